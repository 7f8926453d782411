"""The config that travels with every trained model: classes, mapping and input format.

TensorFlow-free, so an edge device can read it beside a TFLite file.
"""

from __future__ import annotations

import os
from pathlib import Path

from stressvision.errors import DataError
from stressvision.face_format import FACE_SHAPE
from stressvision.fileio import read_json, write_json

CONFIG_NAME = "model_config.json"


def make_model_config(
    model: str,
    classes: list[str],
    mapping: dict[str, str | None],
    input_size: int,
    learned_units: dict[str, str] | None = None,
) -> dict:
    """What a runtime needs to use the model; `learned_units` (unit -> class), where the model
    learnt finer units and sums them into `classes` (map_labels.learn: emotions), is a record."""
    config = {
        "model": model,
        "classes": list(classes),
        "source_to_class": mapping,
        "input": {
            "shape": list(FACE_SHAPE),
            "dtype": "float32",
            "color": "grayscale",
            "pixel_range": [0, 255],
            "note": "a face crop resized to 48x48; the model resizes and scales it itself",
        },
        "model_input_size": input_size,
    }
    if learned_units:
        config["learned_units"] = learned_units
    return config


def with_tta(config: dict, tta: str) -> dict:
    """The config of a deployed bundle, with the test-time augmentation its runtimes apply
    (stressvision.tta.TTA_MODES)."""
    return {**config, "tta": tta}


def bundle_tta(config: dict) -> str:
    """A bundle's test-time augmentation: none where its config names none (older bundles)."""
    return str(config.get("tta") or "none")


def save_model_config(directory: str | os.PathLike, config: dict) -> None:
    write_json(Path(directory) / CONFIG_NAME, config)


def load_model_config(directory: str | os.PathLike) -> dict:
    return read_json(Path(directory) / CONFIG_NAME)


def resolve_model(path: str | os.PathLike) -> tuple[Path, dict]:
    """`path`: a .tflite file, or a folder holding one (int8 preferred), with model_config.json
    beside it; returns the model file and its config."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / f"{v}.tflite" for v in ("int8", "float16", "float32")]
        found = [c for c in candidates if c.is_file()] or sorted(
            p for p in path.glob("*.tflite") if p.name != "features.tflite"
        )
        if not found:
            raise DataError(f"{path}: no .tflite model in this folder")
        path = found[0]
    if not path.is_file():
        raise DataError(f"{path}: model file not found")
    config_path = path.parent / CONFIG_NAME
    if not config_path.is_file():
        raise DataError(f"{path}: no {CONFIG_NAME} beside the model, so its class labels are unknown")
    try:
        config = read_json(config_path)
    except ValueError:
        raise DataError(f"{config_path}: not valid JSON; copy it again from the model folder") from None
    if problem := config_problem(config):
        raise DataError(f"{config_path}: {problem}; copy it again from the model folder")
    return path, config


def config_problem(config: object) -> str | None:
    """What is wrong with a (hand-edited) model config that the runtimes read, or None: checked
    once where it is loaded, so a bad key is one line that names it, not a traceback later."""
    if not isinstance(config, dict):
        return "not a JSON object"
    classes = config.get("classes")
    names = isinstance(classes, list) and all(isinstance(c, str) and c for c in classes)
    if not names or not classes or len(set(classes)) != len(classes):
        return '"classes" is not a list of distinct class names'
    mapping = config.get("source_to_class", {})
    if not isinstance(mapping, dict) or not all(v is None or isinstance(v, str) for v in mapping.values()):
        return '"source_to_class" is not an object of source emotion -> class name (or null)'
    modality = config.get("modality", "face")
    if modality not in ("face", "voice"):
        return f'"modality" {modality!r} is neither face nor voice'
    if modality == "voice":
        given = config.get("input")
        if not isinstance(given, dict) or not all(
            isinstance(given.get(k), int) and given[k] > 0 for k in ("samples", "sample_rate")
        ):
            return 'a voice model needs "input" with positive integer "samples" and "sample_rate"'
        if not isinstance(config.get("features_model"), str) or not isinstance(config.get("features"), dict):
            return 'a voice model needs "features_model" (its features .tflite) and "features"'
    return None
