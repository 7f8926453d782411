"""Running an exported voice model with LiteRT alone: clip -> features.tflite -> classifier.

TensorFlow-free, for the edge install: the features model carries the exact tf.signal
pipeline used in training, so nothing is re-implemented on the device.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from stressvision.errors import DataError
from stressvision.fileio import read_json
from stressvision.litert import TFLiteClassifier
from stressvision.model_config import CONFIG_NAME


class VoiceClassifier:
    """A voice classifier exported by voice_quantize: `<variant>.tflite` beside features.tflite
    and model_config.json. Takes mono float clips in [-1, 1] at the config's sample rate."""

    def __init__(self, model_path: str | os.PathLike, num_threads: int | None = None):
        model_path = Path(model_path)
        config_path = model_path.parent / CONFIG_NAME
        if not config_path.is_file():
            raise DataError(f"{model_path}: no {CONFIG_NAME} beside it; copy the whole model folder")
        self.config = read_json(config_path)
        if self.config.get("modality") != "voice":
            raise DataError(f"{model_path}: not a voice model (its {CONFIG_NAME} has no modality: voice)")
        self.classes: list[str] = self.config["classes"]
        self.samples: int = self.config["input"]["samples"]
        self.sample_rate: int = self.config["input"]["sample_rate"]
        self.features = TFLiteClassifier(model_path.parent / self.config["features_model"], num_threads)
        self.classifier = TFLiteClassifier(model_path, num_threads)

    def clip_features(self, clip: np.ndarray) -> np.ndarray:
        """Features of one clip (samples,), as the classifier takes them (without batch axis)."""
        if clip.shape != (self.samples,):
            raise DataError(f"expected a clip of {self.samples} samples, got shape {clip.shape}")
        return self.features.invoke_raw(clip[None].astype(np.float32))[0]

    def classify_features(self, features: np.ndarray) -> np.ndarray:
        c = self.classifier
        return c.dequantize_output(c.invoke_raw(c.quantize_input(features[None]))[0])

    def predict(self, clips: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) for clips (N, samples)."""
        return np.stack([self.classify_features(self.clip_features(clip)) for clip in clips])

    def time_clips(self, clips: np.ndarray, warmup: int, runs: int) -> np.ndarray:
        """Milliseconds per clip, features and classification together, after `warmup` runs."""
        for i in range(warmup):
            self.classify_features(self.clip_features(clips[i % len(clips)]))
        times = np.empty(runs)
        for i in range(runs):
            clip = clips[i % len(clips)]
            started = time.perf_counter()
            self.classify_features(self.clip_features(clip))
            times[i] = (time.perf_counter() - started) * 1000.0
        return times
