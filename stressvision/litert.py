"""Running TFLite models with the LiteRT interpreter, the runtime of a Raspberry Pi.

Kept free of TensorFlow imports so the edge install (LiteRT + numpy) can use it.
"""

from __future__ import annotations

import os
import time

import numpy as np

from stressvision.errors import DataError
from stressvision.tta import average_views, tta_views

VARIANTS = ("float32", "float16", "int8")  # the TFLite exports, float to full-integer


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - depends on the install
        raise DataError("LiteRT is not installed; pip install ai-edge-litert") from None
    return Interpreter


class TFLiteClassifier:
    """A TFLite classifier that takes float pixels and returns float probabilities.

    Quantized (int8/uint8) inputs and outputs are converted with the tensor's own scale and
    zero point, so callers never see the difference between float and INT8 models.
    """

    def __init__(self, model_path: str | os.PathLike, num_threads: int | None = None):
        try:
            self.interpreter = _interpreter_class()(model_path=str(model_path), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise DataError(f"{model_path}: not a valid TFLite model ({exc})") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self.input["dtype"])

    @property
    def output_dtype(self) -> np.dtype:
        return np.dtype(self.output["dtype"])

    def quantize_input(self, pixels: np.ndarray) -> np.ndarray:
        """Float pixels (..., 48, 48, 1) -> the model's input tensor dtype."""
        dtype = self.input_dtype
        if dtype == np.float32:
            return pixels.astype(np.float32)
        scale, zero_point = self.input["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(pixels / scale + zero_point), info.min, info.max).astype(dtype)

    def dequantize_output(self, raw: np.ndarray) -> np.ndarray:
        if self.output_dtype == np.float32:
            return raw
        scale, zero_point = self.output["quantization"]
        return (raw.astype(np.float32) - zero_point) * scale

    def invoke_raw(self, tensor: np.ndarray) -> np.ndarray:
        """One inference on an already-typed input tensor of the model's input shape."""
        self.interpreter.set_tensor(self.input["index"], tensor)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def predict(self, pixels: np.ndarray, tta: str = "none") -> np.ndarray:
        """Class probabilities for a batch of float pixel images (N, 48, 48[, 1]), averaged over
        the views of test-time augmentation `tta` (stressvision.tta.TTA_MODES)."""
        if pixels.ndim == 3:
            pixels = pixels[..., None]
        return average_views(self._predict_each, pixels, tta)

    def _predict_each(self, pixels: np.ndarray) -> np.ndarray:
        return np.stack(
            [self.dequantize_output(self.invoke_raw(self.quantize_input(image[None]))[0]) for image in pixels]
        )


def time_inference(
    classifier: TFLiteClassifier, images: np.ndarray, warmup: int, runs: int, tta: str = "none"
) -> np.ndarray:
    """Milliseconds per face of `runs` timed faces after `warmup` untimed ones: one invocation
    per view of test-time augmentation `tta` (the views themselves are made beforehand)."""
    if images.ndim == 3:
        images = images[..., None]
    views = tta_views(images, tta)
    tensors = [[classifier.quantize_input(view[i][None]) for view in views] for i in range(len(images))]
    for i in range(warmup):
        for tensor in tensors[i % len(tensors)]:
            classifier.invoke_raw(tensor)
    times = np.empty(runs)
    for i in range(runs):
        face = tensors[i % len(tensors)]
        started = time.perf_counter()
        for tensor in face:
            classifier.invoke_raw(tensor)
        times[i] = (time.perf_counter() - started) * 1000.0
    return times


def latency_summary(times_ms: np.ndarray) -> dict[str, float]:
    mean = float(times_ms.mean())
    return {
        "mean_ms": round(mean, 4),
        "std_ms": round(float(times_ms.std()), 4),
        "p50_ms": round(float(np.percentile(times_ms, 50)), 4),
        "p95_ms": round(float(np.percentile(times_ms, 95)), 4),
        "p99_ms": round(float(np.percentile(times_ms, 99)), 4),
        "fps": round(1000.0 / mean, 2) if mean > 0 else 0.0,
    }
