"""Quantize a trained Keras face model into a pretrained/ bundle and score it on the test faces.

    python scripts/package_model.py --keras student_stress.keras --scheme stress \\
        --archive fer2013.zip --out pretrained/face_fer2013_stress

For models trained outside `dvc repro` (scripts/train_on_accelerator.py). The same steps as the
pipeline: its reader, label scheme and split (params.yaml `map_labels`, `split`), its INT8
export calibrated on train faces (`quantize.representative_samples`, `quantize.seed`), and
LiteRT for the scores. Writes int8.tflite and model_config.json into --out, and prints the
PrivateTest accuracy of Keras (plain and flip TTA) and of float32 and INT8 TFLite with each
test-time augmentation (`--tta MODE` marks the bundle to run so, as `quantize.tta` does).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import keras
import numpy as np

from stressvision.accelerated import predict_tta, read_faces, scheme_splits
from stressvision.errors import DataError
from stressvision.evaluation import classification_metrics
from stressvision.export import to_tflite
from stressvision.fileio import atomic_dir
from stressvision.litert import TFLiteClassifier
from stressvision.model_config import CONFIG_NAME, make_model_config, save_model_config, with_tta
from stressvision.models import load_face_model
from stressvision.params import Section, load_params
from stressvision.stage import run_stage
from stressvision.tta import TTA_MODES, VIEW_COUNTS, view_predictions

BUNDLE_FILES = {"int8.tflite", CONFIG_NAME}


def model_input_size(model: keras.Model) -> int:
    """The size the model resizes faces to (its `resize` layer), else its input size."""
    for layer in model.layers:
        if layer.name == "resize":
            return int(layer.height)
    return int(model.input_shape[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keras", required=True, help="the trained model (.keras)")
    p.add_argument("--scheme", required=True, help="the map_labels scheme it was trained on")
    p.add_argument("--archive", required=True, help="FER-2013 zip, fer2013.csv or a packed .npz.xz")
    p.add_argument("--out", required=True, help="bundle folder (int8.tflite, model_config.json)")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--tta", choices=TTA_MODES, default="none", help="the bundle's test-time augmentation")
    args = p.parse_args()

    params = load_params(args.params)
    schemes = params["map_labels"].get("schemes") or {}
    if args.scheme not in schemes:
        p.error(f"argument --scheme: {args.scheme!r} is not a scheme of {args.params}: {', '.join(schemes)}")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or not {f.name for f in out.iterdir()} <= BUNDLE_FILES):
        raise DataError(
            f"{out}: holds other files than a bundle's ({', '.join(sorted(BUNDLE_FILES))}); give a new --out"
        )
    quantize = Section("quantize", params["quantize"])
    label_map, classes, splits = scheme_splits(read_faces(args.archive), args.scheme, params)
    model = load_face_model(
        args.keras, len(classes), f"scheme {args.scheme} has {len(classes)}: {', '.join(classes)}"
    )
    (train_images, _), (test_images, test_labels) = splits["train"], splits["test"]
    rng = np.random.default_rng(quantize.seed())
    calibration = train_images[rng.permutation(len(train_images))[: quantize.int("representative_samples")]]

    plain, tta = predict_tta(model, test_images)
    rows = {"keras": plain, "keras_tta_flip": tta}
    with tempfile.TemporaryDirectory() as tmp, atomic_dir(out) as bundle:  # the whole bundle or nothing
        for variant in ("float32", "int8"):
            path = (bundle if variant == "int8" else Path(tmp)) / f"{variant}.tflite"
            path.write_bytes(to_tflite(model, variant, calibration if variant == "int8" else None))
            # every view once; each mode averages the leading ones (tta.tta_views' order)
            views = view_predictions(
                TFLiteClassifier(path).predict, test_images.astype(np.float32), "flip_zoom"
            )
            for tta in TTA_MODES:
                suffix = "" if tta == "none" else f"_tta_{tta}"
                rows[f"tflite_{variant}{suffix}"] = np.mean(views[: VIEW_COUNTS[tta]], axis=0)
        mapping = dict(label_map.mapping)
        config = make_model_config(model.name, classes, mapping, model_input_size(model))
        save_model_config(bundle, with_tta(config, args.tta))

    report = {"n_test": int(len(test_labels)), "params": int(model.count_params())}
    for name, probabilities in rows.items():
        scores = classification_metrics(test_labels, probabilities, classes)
        report[name] = {"accuracy": round(scores["accuracy"], 4), "f1_macro": round(scores["f1_macro"], 4)}
        print(f"package: {name:25s} accuracy {scores['accuracy']:.4f}  macro F1 {scores['f1_macro']:.4f}")
    report["int8_size_mb"] = round((out / "int8.tflite").stat().st_size / 2**20, 3)
    print(f"package: {out / 'int8.tflite'} {report['int8_size_mb']} MB")
    print(json.dumps(report))


if __name__ == "__main__":
    run_stage("package_model", main, rerun="run it again")
