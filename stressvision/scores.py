"""Scores from a confusion matrix, in numpy only, so the edge install can compute them too."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_report(labels: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> dict:
    """Accuracy, macro precision/recall/F1, per-class scores and the confusion matrix.

    A class without predictions (or without examples) scores 0 precision (or recall), as
    scikit-learn does with zero_division=0.
    """
    k = len(classes)
    labels, predicted = np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    matrix = np.bincount(labels * k + predicted, minlength=k * k).reshape(k, k)
    tp = np.diag(matrix).astype(float)
    predicted_n, actual_n = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted_n, out=np.zeros(k), where=predicted_n > 0)
    recall = np.divide(tp, actual_n, out=np.zeros(k), where=actual_n > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=precision + recall > 0)
    return {
        "n": int(len(labels)),
        "accuracy": float(tp.sum() / max(len(labels), 1)),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "per_class": {
            name: {
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f), 4),
                "support": int(s),
            }
            for name, p, r, f, s in zip(classes, precision, recall, f1, actual_n)
        },
        "confusion_matrix": matrix.tolist(),
    }
