"""Classification metrics: what evaluate and quantize report for any model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from stressvision.scores import confusion_report


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[str], top_confusions: int = 5
) -> dict:
    """confusion_report's scores plus one-vs-rest AUC and the commonest mistakes."""
    # Quantized models' dequantized outputs sum to 1 only approximately; AUC needs exactly 1.
    totals = probabilities.sum(axis=1, keepdims=True)
    probabilities = np.divide(
        probabilities, totals, out=np.full_like(probabilities, 1 / len(classes)), where=totals > 0
    )
    report = confusion_report(labels, probabilities.argmax(axis=1), classes)
    class_ids = list(range(len(classes)))
    if len(np.unique(labels)) == len(classes):
        report["auc_ovr"] = float(roc_auc_score(labels, probabilities, multi_class="ovr", labels=class_ids))
    else:  # AUC is undefined for a class absent from the test set
        report["auc_ovr"] = None
    matrix = report["confusion_matrix"]
    mistakes = sorted(
        (
            (matrix[i][j], classes[i], classes[j])
            for i in class_ids
            for j in class_ids
            if i != j and matrix[i][j]
        ),
        key=lambda t: -t[0],
    )
    report["top_confusions"] = [
        {"actual": a, "predicted": p, "count": n} for n, a, p in mistakes[:top_confusions]
    ]
    return report
