"""Stage quantize: export TFLite float32/float16/INT8 and score each with LiteRT.

`tta`: the test-time augmentation the bundles are scored with and marked in model_config.json
to run (the evaluate stage's `tta` is the Keras model's).
"""

from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "model-dir", "train", "test", "out", "metrics")

    import keras
    import numpy as np

    from stressvision.evaluation import classification_metrics
    from stressvision.export import to_tflite
    from stressvision.fileio import atomic_dir, load_arrays, size_mb, write_bytes, write_json
    from stressvision.litert import VARIANTS, TFLiteClassifier
    from stressvision.model_config import load_model_config, save_model_config, with_tta
    from stressvision.params import Section
    from stressvision.tta import TTA_MODES, view_predictions

    params = Section.load("quantize")
    variants = params.str_list("variants", allowed=VARIANTS)
    n_calibration = params.int("representative_samples", minimum=1)
    seed = params.seed()
    tta = params.choice("tta", TTA_MODES)
    params.check_no_extra_keys()

    model_dir, out = Path(args.model_dir), Path(args.out)
    config = with_tta(load_model_config(model_dir), tta)
    classes = config["classes"]
    model = keras.models.load_model(model_dir / "model.keras")
    train, test = load_arrays(args.train), load_arrays(args.test)
    rng = np.random.default_rng(seed)
    calibration = train["images"][rng.permutation(len(train["images"]))[:n_calibration]]
    test_pixels = test["images"].astype(np.float32)

    metrics = {}
    with atomic_dir(out) as bundle:  # an interrupted export leaves no half bundle
        for variant in variants:
            print(f"quantize: converting {variant}", flush=True)
            path = bundle / f"{variant}.tflite"
            write_bytes(path, to_tflite(model, variant, calibration if variant == "int8" else None))
            views = view_predictions(TFLiteClassifier(path).predict, test_pixels, tta)  # the first: one pass
            probabilities = np.mean(views, axis=0)
            scores = classification_metrics(test["labels"], probabilities, classes)
            metrics[variant] = {
                "size_mb": size_mb(path),
                "accuracy": scores["accuracy"],
                "f1_macro": scores["f1_macro"],
            }
            note = ""
            if tta != "none":
                metrics[variant]["accuracy_without_tta"] = round(
                    float((views[0].argmax(1) == test["labels"]).mean()), 4
                )
                note = f" with TTA {tta} ({metrics[variant]['accuracy_without_tta']:.4f} without)"
            print(
                f"quantize: {variant:8s} {metrics[variant]['size_mb']:.3f} MB, "
                f"test accuracy {scores['accuracy']:.4f}{note}"
            )
        save_model_config(bundle, config)  # labels, preprocessing and TTA travel with the files
    write_json(args.metrics, metrics)


if __name__ == "__main__":
    run_stage("quantize", main)
