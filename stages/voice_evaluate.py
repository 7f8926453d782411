"""Stage voice_evaluate: score the Keras voice model on the test speakers, overall and per speaker."""

from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "model-dir", "test", "metrics", "plots")

    import keras
    import numpy as np

    from stressvision.evaluation import classification_metrics, confusion_rows
    from stressvision.fileio import load_arrays, write_json, write_text
    from stressvision.model_config import load_model_config
    from stressvision.params import Section
    from stressvision.reports import plot_confusion_matrix
    from stressvision.voice.speakers import per_speaker_accuracy

    params = Section.load("voice_evaluate")
    top_confusions = params.int("top_confusions", minimum=0)
    params.check_no_extra_keys()

    config = load_model_config(args.model_dir)
    classes = config["classes"]
    model = keras.models.load_model(Path(args.model_dir) / "model.keras")
    test = load_arrays(args.test)
    probabilities = model.predict(test["features"], batch_size=256, verbose=0)
    predicted = probabilities.argmax(1)
    report = classification_metrics(test["labels"], probabilities, classes, top_confusions)
    report["per_speaker"] = per_speaker_accuracy(test["labels"], predicted, test["speakers"])

    plots = Path(args.plots)
    matrix = report.pop("confusion_matrix")
    confusions = report.pop("top_confusions")
    write_json(plots / "report.json", {"confusion_matrix": matrix, "top_confusions": confusions})
    write_text(plots / "confusion.csv", confusion_rows(test["labels"], predicted, classes))
    plot_confusion_matrix(
        np.array(matrix),
        classes,
        f"voice {config['model']} on unseen speakers (n={report['n']}, accuracy {report['accuracy']:.1%})",
        plots / "confusion_matrix.png",
    )
    write_json(args.metrics, report)
    print(
        f"voice_evaluate: accuracy {report['accuracy']:.4f}, macro F1 {report['f1_macro']:.4f} "
        f"on {report['n']} clips of {len(report['per_speaker'])} unseen speakers"
    )
    for speaker, scores in report["per_speaker"].items():
        print(f"voice_evaluate: {speaker}: accuracy {scores['accuracy']:.4f} on {scores['n']} clips")
    for c in confusions:
        print(f"voice_evaluate: {c['actual']} taken for {c['predicted']}: {c['count']}")


if __name__ == "__main__":
    run_stage("voice_evaluate", main)
