"""Classification metrics: what evaluate and quantize report for any model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[str], top_confusions: int = 5
) -> dict:
    """Accuracy, macro P/R/F1, one-vs-rest AUC, per-class report and the commonest mistakes."""
    # Quantized models' dequantized outputs sum to 1 only approximately; AUC needs exactly 1.
    totals = probabilities.sum(axis=1, keepdims=True)
    probabilities = np.divide(
        probabilities, totals, out=np.full_like(probabilities, 1 / len(classes)), where=totals > 0
    )
    predicted = probabilities.argmax(axis=1)
    class_ids = list(range(len(classes)))
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, predicted, labels=class_ids, average="macro", zero_division=0
    )
    present = np.unique(labels)
    if len(present) == len(classes):
        auc = float(roc_auc_score(labels, probabilities, multi_class="ovr", labels=class_ids))
    else:  # AUC is undefined for a class absent from the test set
        auc = None
    report = classification_report(
        labels, predicted, labels=class_ids, target_names=list(classes), output_dict=True, zero_division=0
    )
    matrix = confusion_matrix(labels, predicted, labels=class_ids)
    off_diagonal = [
        (int(matrix[i, j]), classes[i], classes[j])
        for i in class_ids
        for j in class_ids
        if i != j and matrix[i, j] > 0
    ]
    off_diagonal.sort(key=lambda t: -t[0])
    return {
        "n": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "auc_ovr": auc,
        "per_class": {name: {k: round(float(v), 4) for k, v in report[name].items()} for name in classes},
        "top_confusions": [
            {"actual": a, "predicted": p, "count": n} for n, a, p in off_diagonal[:top_confusions]
        ],
        "confusion_matrix": matrix.tolist(),
    }


def confusion_rows(labels: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> str:
    """CSV with one row per test image, as DVC's `confusion` plot template expects."""
    lines = ["actual,predicted"]
    lines += [f"{classes[a]},{classes[p]}" for a, p in zip(labels, predicted)]
    return "\n".join(lines) + "\n"
