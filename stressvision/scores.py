"""Scores from a confusion matrix, in numpy only, so the edge install can compute them too."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_report(labels: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> dict:
    """Accuracy, macro precision/recall/F1, per-class scores and the confusion matrix.

    A class without predictions (or without examples) scores 0 precision (or recall), as
    scikit-learn does with zero_division=0. The macro averages, like scikit-learn's, are over
    the classes that occur (as labels or predictions): a folder of one class's faces scored
    right is macro F1 1, not 1 / number of classes.
    """
    k = len(classes)
    labels, predicted = np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    matrix = np.bincount(labels * k + predicted, minlength=k * k).reshape(k, k)
    tp = np.diag(matrix).astype(float)
    predicted_n, actual_n = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted_n, out=np.zeros(k), where=predicted_n > 0)
    recall = np.divide(tp, actual_n, out=np.zeros(k), where=actual_n > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=precision + recall > 0)
    seen = (predicted_n + actual_n) > 0
    return {
        "n": int(len(labels)),
        "accuracy": float(tp.sum() / max(len(labels), 1)),
        "precision_macro": float(precision[seen].mean()) if seen.any() else 0.0,
        "recall_macro": float(recall[seen].mean()) if seen.any() else 0.0,
        "f1_macro": float(f1[seen].mean()) if seen.any() else 0.0,
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
