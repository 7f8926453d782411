"""Test-time augmentation: a face classified as several views, their probabilities averaged.

numpy only, so the pipeline's Keras evaluation, the TFLite scores of the quantize stage and
the edge command (LiteRT, no TensorFlow) make exactly the same views.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

TTA_MODES = ("none", "flip", "flip_zoom")
ZOOM_MARGINS = (2, 4)  # pixels cut from each side of a 48-px face, scaled back: zoom 48/44, 48/40
VIEW_COUNTS = {"none": 1, "flip": 2, "flip_zoom": 2 * (1 + len(ZOOM_MARGINS))}


def zoom_center(images: np.ndarray, margin: int) -> np.ndarray:
    """The centre of (N, H, W[, C]) images, `margin` pixels in from each side, resized back to
    (H, W) bilinearly with half-pixel centres."""
    height, width = images.shape[1:3]

    def taps(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        inner = size - 2 * margin
        source = np.clip((np.arange(size) + 0.5) * inner / size - 0.5, 0, inner - 1) + margin
        low = np.floor(source).astype(int)
        return low, np.minimum(low + 1, size - 1 - margin), (source - low).astype(np.float32)

    x = images.astype(np.float32)
    low, high, w = taps(height)
    shape = (1, height) + (1,) * (x.ndim - 2)
    x = x[:, low] * (1 - w).reshape(shape) + x[:, high] * w.reshape(shape)
    low, high, w = taps(width)
    shape = (1, 1, width) + (1,) * (x.ndim - 3)
    return x[:, :, low] * (1 - w).reshape(shape) + x[:, :, high] * w.reshape(shape)


def tta_views(images: np.ndarray, mode: str) -> list[np.ndarray]:
    """The views of (N, H, W[, C]) images that `mode` averages over: none (the images), flip
    (and their mirror images), flip_zoom (the images and two centre zooms, each also mirrored).

    Each mode's views lead those of every larger mode, so the first VIEW_COUNTS[m] predictions
    of a larger mode's views average into mode m: one pass scores every mode."""
    if mode not in TTA_MODES:
        raise ValueError(f"tta mode {mode!r}: expected one of {', '.join(TTA_MODES)}")
    if mode == "none":
        return [images]
    zooms = [zoom_center(images, m) for m in ZOOM_MARGINS] if mode == "flip_zoom" else []
    return [view for base in (images, *zooms) for view in (base, base[:, :, ::-1])]


def view_predictions(
    predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, mode: str
) -> list[np.ndarray]:
    """`predict` on each `mode` view of `images`, in tta_views' order."""
    return [np.asarray(predict(view)) for view in tta_views(images, mode)]


def average_views(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, mode: str) -> np.ndarray:
    """Probabilities of `predict` averaged over the `mode` views of `images`."""
    return np.mean(view_predictions(predict, images, mode), axis=0)
