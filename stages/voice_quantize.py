"""Stage voice_quantize: export features.tflite and the classifier variants; score the LiteRT chain."""

import shutil
from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "model-dir", "features", "test-clips", "out", "metrics")

    import keras
    import numpy as np

    from stressvision.evaluation import classification_metrics
    from stressvision.export import to_tflite
    from stressvision.fileio import atomic_dir, load_arrays, read_json, size_mb, write_bytes, write_json
    from stressvision.litert import VARIANTS
    from stressvision.model_config import CONFIG_NAME, load_model_config
    from stressvision.params import Section
    from stressvision.voice.features import FeatureExtractor
    from stressvision.voice.inference import VoiceClassifier

    params = Section.load("voice_quantize")
    variants = params.str_list("variants", allowed=VARIANTS)
    n_calibration = params.int("representative_samples", minimum=1)
    seed = params.seed()
    params.check_no_extra_keys()

    model_dir, out = Path(args.model_dir), Path(args.out)
    config = load_model_config(model_dir)
    model = keras.models.load_model(model_dir / "model.keras")
    extractor = FeatureExtractor.from_meta(read_json(Path(args.features) / "meta.json"))
    train = load_arrays(Path(args.features) / "train.npz")
    calibration = train["features"][
        np.random.default_rng(seed).permutation(len(train["labels"]))[:n_calibration]
    ]
    test = load_arrays(args.test_clips)
    clips = test["clips"].astype(np.float32) / 32768.0
    with atomic_dir(out) as bundle:  # an interrupted export leaves no half bundle
        print(f"voice_quantize: exporting the {extractor.config.kind} extractor", flush=True)
        write_bytes(bundle / config["features_model"], extractor.to_tflite())
        shutil.copyfile(model_dir / CONFIG_NAME, bundle / CONFIG_NAME)  # labels, audio format, features
        metrics = {"features_size_mb": size_mb(bundle / config["features_model"])}
        for variant in variants:
            print(f"voice_quantize: converting {variant}", flush=True)
            path = bundle / f"{variant}.tflite"
            write_bytes(path, to_tflite(model, variant, calibration if variant == "int8" else None))
            # Scored from the raw test clips through both LiteRT models: the edge's exact path.
            scores = classification_metrics(
                test["labels"], VoiceClassifier(path).predict(clips, test["speakers"]), config["classes"]
            )
            metrics[variant] = {
                "size_mb": size_mb(path),
                "accuracy": scores["accuracy"],
                "f1_macro": scores["f1_macro"],
            }
            print(
                f"voice_quantize: {variant:8s} {metrics[variant]['size_mb']:.3f} MB, "
                f"test accuracy {scores['accuracy']:.4f} (LiteRT, from the WAV clips)"
            )
    write_json(args.metrics, metrics)


if __name__ == "__main__":
    run_stage("voice_quantize", main)
