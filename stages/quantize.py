"""Stage quantize: export TFLite float32/float16/INT8 and score each with LiteRT."""

import shutil
from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "model-dir", "train", "test", "out", "metrics")

    import keras
    import numpy as np

    from stressvision.evaluation import classification_metrics
    from stressvision.export import to_tflite
    from stressvision.fileio import atomic_path, load_arrays, write_bytes, write_json
    from stressvision.litert import VARIANTS, TFLiteClassifier
    from stressvision.model_config import CONFIG_NAME, load_model_config
    from stressvision.params import Section

    params = Section.load("quantize")
    variants = params.str_list("variants", allowed=VARIANTS)
    n_calibration = params.int("representative_samples", minimum=1)
    seed = params.int("seed")
    params.check_no_extra_keys()

    model_dir, out = Path(args.model_dir), Path(args.out)
    classes = load_model_config(model_dir)["classes"]
    model = keras.models.load_model(model_dir / "model.keras")
    train, test = load_arrays(args.train), load_arrays(args.test)
    rng = np.random.default_rng(seed)
    calibration = train["images"][rng.permutation(len(train["images"]))[:n_calibration]]
    test_pixels = test["images"].astype(np.float32)

    metrics = {}
    for variant in variants:
        print(f"quantize: converting {variant}", flush=True)
        path = out / f"{variant}.tflite"
        write_bytes(path, to_tflite(model, variant, calibration if variant == "int8" else None))
        probabilities = TFLiteClassifier(path).predict(test_pixels)
        scores = classification_metrics(test["labels"], probabilities, classes)
        metrics[variant] = {
            "size_mb": round(path.stat().st_size / 2**20, 4),
            "accuracy": scores["accuracy"],
            "f1_macro": scores["f1_macro"],
        }
        print(
            f"quantize: {variant:8s} {metrics[variant]['size_mb']:.3f} MB, "
            f"test accuracy {scores['accuracy']:.4f}"
        )
    with atomic_path(out / CONFIG_NAME) as tmp:  # labels and preprocessing travel with the files
        shutil.copyfile(model_dir / CONFIG_NAME, tmp)
    write_json(args.metrics, metrics)


if __name__ == "__main__":
    run_stage("quantize", main)
