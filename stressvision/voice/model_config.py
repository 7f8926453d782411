"""The config that travels with a voice model: classes, mapping, audio format and features.

TensorFlow-free: an edge device reads it beside `features.tflite` and the classifier.
"""

from __future__ import annotations

FEATURES_MODEL = "features.tflite"  # clip -> features, float32; runs before every classifier variant


def make_voice_model_config(
    model: str, classes: list[str], mapping: dict[str, str | None], feature_meta: dict
) -> dict:
    features = feature_meta["features"]
    return {
        "model": model,
        "modality": "voice",
        "classes": list(classes),
        "source_to_class": mapping,
        "input": {
            "sample_rate": features["sample_rate"],
            "clip_seconds": features["clip_seconds"],
            "samples": round(features["sample_rate"] * features["clip_seconds"]),
            "dtype": "float32",
            "range": [-1, 1],
            "channels": "mono",
            "note": "resample, mix down and centre-crop/zero-pad to `samples`; then run features.tflite",
        },
        "features": features,
        "features_model": FEATURES_MODEL,
        "feature_shape": feature_meta["shape"],
    }
