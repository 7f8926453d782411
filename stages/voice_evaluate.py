"""Stage voice_evaluate: score the Keras voice model on the test speakers, overall and per speaker."""

from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "model-dir", "test", "metrics", "plots")

    import keras

    from stressvision.evaluation import classification_metrics
    from stressvision.fileio import load_arrays, write_json
    from stressvision.model_config import load_model_config
    from stressvision.params import Section
    from stressvision.reports import write_test_plots
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

    subject = f"voice {config['model']} on unseen speakers"
    confusions = write_test_plots(args.plots, report, test["labels"], predicted, classes, subject)
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
