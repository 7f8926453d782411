"""What the face and voice training loops share: class weights and the summary of a fit."""

from __future__ import annotations

import numpy as np


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """n / (k * count): each class contributes equally to the loss."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = len(labels) / (num_classes * np.maximum(counts, 1))
    return {i: float(w) for i, w in enumerate(weights)}


def fit_summary(
    history: dict[str, list[float]], params: int, epoch: int, seconds: float, epoch_key: str = "best_epoch"
) -> dict:
    """Epochs run, the kept epoch (1-based, under `epoch_key`), time, size, and that epoch's metrics."""
    return {
        "epochs_run": len(history["loss"]),
        epoch_key: epoch + 1,
        "train_seconds": round(seconds, 2),
        "params": params,
        **{key: float(values[epoch]) for key, values in history.items() if key != "learning_rate"},
    }
