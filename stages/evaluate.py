"""Stage evaluate: score the Keras model on the test split."""

from functools import partial
from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "model-dir", "test", "metrics", "plots")

    import keras
    import numpy as np

    from stressvision.evaluation import classification_metrics
    from stressvision.fileio import load_arrays, write_json
    from stressvision.model_config import load_model_config
    from stressvision.params import Section
    from stressvision.reports import write_test_plots
    from stressvision.tta import TTA_MODES, average_views

    params = Section.load("evaluate")
    tta = params.choice("tta", TTA_MODES)
    top_confusions = params.int("top_confusions", minimum=0)
    params.check_no_extra_keys()

    config = load_model_config(args.model_dir)
    classes = config["classes"]
    model = keras.models.load_model(Path(args.model_dir) / "model.keras")
    test = load_arrays(args.test)
    images = test["images"][..., None].astype(np.float32)
    probabilities = average_views(partial(model.predict, batch_size=256, verbose=0), images, tta)
    report = classification_metrics(test["labels"], probabilities, classes, top_confusions)

    subject = f"{config['model']} on the test split"
    confusions = write_test_plots(
        args.plots, report, test["labels"], probabilities.argmax(1), classes, subject
    )
    write_json(args.metrics, report)
    print(
        f"evaluate: accuracy {report['accuracy']:.4f}, macro F1 {report['f1_macro']:.4f} "
        f"on {report['n']} test faces"
    )
    for c in confusions:
        print(f"evaluate: {c['actual']} taken for {c['predicted']}: {c['count']}")


if __name__ == "__main__":
    run_stage("evaluate", main)
