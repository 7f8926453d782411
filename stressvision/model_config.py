"""The config that travels with every trained model: classes, mapping and input format.

TensorFlow-free, so an edge device can read it beside a TFLite file.
"""

from __future__ import annotations

import os
from pathlib import Path

from stressvision.face_format import FACE_SHAPE
from stressvision.fileio import read_json, write_json

CONFIG_NAME = "model_config.json"


def make_model_config(
    model: str, classes: list[str], mapping: dict[str, str | None], input_size: int
) -> dict:
    return {
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


def save_model_config(directory: str | os.PathLike, config: dict) -> None:
    write_json(Path(directory) / CONFIG_NAME, config)


def load_model_config(directory: str | os.PathLike) -> dict:
    return read_json(Path(directory) / CONFIG_NAME)
