"""What the face and voice training loops share: class weights and the summary of a fit."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from stressvision.fileio import atomic_dir, atomic_path, size_mb


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


def fit_and_save(
    fit: Callable[[str, list], tuple[Any, dict[str, list[float]], dict]],
    live_dir: str | os.PathLike,
    model_path: str | os.PathLike,
) -> tuple[dict[str, list[float]], dict]:
    """Run `fit(work_dir, callbacks)` with DVCLive logging each epoch, then save its model atomically.

    Returns the history and the summary, with the saved model's size added (`model_size_mb`).
    A fit that does not finish (Ctrl-C, an error) leaves no DVCLive log: the epochs it did log
    would otherwise show in `dvc metrics` and `dvc exp show` as the stage's result. DVCLive
    writes into a temporary folder that replaces `live_dir` only after the fit, so a fit killed
    outright (SIGKILL, the OOM killer), which runs no clean-up, leaves no partial log either.
    """
    from dvclive import Live
    from dvclive.keras import DVCLiveCallback

    try:
        with (
            atomic_dir(live_dir) as live_tmp,
            Live(dir=str(live_tmp), dvcyaml=None, save_dvc_exp=False, report=None) as live,
            tempfile.TemporaryDirectory() as work_dir,
        ):
            model, history, summary = fit(work_dir, [DVCLiveCallback(live=live)])
            with atomic_path(model_path) as tmp:
                model.save(tmp)
    except BaseException:
        shutil.rmtree(live_dir, ignore_errors=True)
        raise
    summary["model_size_mb"] = size_mb(model_path)
    return history, summary
