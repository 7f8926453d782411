"""Plots and tables made for people: titled, labeled axes, counts printed on the bars/cells."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stressvision.fileio import atomic_path, write_json, write_text


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    _pyplot().close(fig)


MARKED_STEPS = 100  # training curves with more steps than this get no markers and a log step axis


def _text_colour(background: Sequence[float]) -> str:
    """Black or white, whichever contrasts more with an RGB(A) `background` (WCAG luminance)."""
    rgb = np.asarray(background[:3], float)
    linear = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    luminance = float(linear @ [0.2126, 0.7152, 0.0722])
    return "black" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "white"


def write_history_csv(history: dict[str, list[float]], path: str | os.PathLike) -> None:
    """One row per epoch (1-based), one column per Keras metric."""
    keys = list(history)
    rows = ["epoch," + ",".join(keys)]
    for epoch in range(len(history[keys[0]])):
        rows.append(f"{epoch + 1}," + ",".join(f"{history[k][epoch]:.6g}" for k in keys))
    write_text(path, "\n".join(rows) + "\n")


def plot_training_curves(
    history: dict[str, list[float]],
    title: str,
    path: str | os.PathLike,
    kept_epoch: int | None = None,
    kept_label: str = "best epoch",
    step_name: str = "epoch",
) -> None:
    """Loss and accuracy per epoch (or per `step_name`: an L-BFGS iteration), train against
    validation (where there is one), the kept model's step marked (1-based; by default the best
    on validation accuracy)."""
    plt = _pyplot()
    epochs = np.arange(1, len(history["loss"]) + 1)
    best = kept_epoch or int(np.argmax(history["val_accuracy"])) + 1
    # many steps (L-BFGS): no markers, which would merge into a band, and a log axis that
    # shows the first steps, where all the change is
    many = len(epochs) > MARKED_STEPS
    style = {"linewidth": 1.5} if many else {"marker": "o", "ms": 3}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, history[metric], label=f"train {metric}", **style)
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label=f"validation {metric}", **style)
        if many:
            ax.set_xscale("log")
        ax.axvline(best, color="grey", linestyle="--", linewidth=1, label=f"{kept_label} ({best})")
        ax.set_xlabel(f"{step_name} (log scale)" if many else step_name)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} per {step_name}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    _save(fig, path)


def plot_confusion_matrix(
    matrix: np.ndarray, classes: Sequence[str], title: str, path: str | os.PathLike
) -> None:
    """Row-normalised colours with the raw count and the row percentage in each cell."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.zeros(matrix.shape, float), where=totals > 0)
    size = max(5.0, 1.0 + 0.9 * len(classes))
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    for i in range(len(classes)):
        for j in range(len(classes)):
            colour = _text_colour(image.cmap(image.norm(normalised[i, j])))
            ax.text(
                j,
                i,
                f"{matrix[i, j]}\n{normalised[i, j]:.0%}",
                ha="center",
                va="center",
                color=colour,
                fontsize=9,
            )
    _save(fig, path)


def confusion_rows(labels: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> str:
    """CSV with one row per test example, as DVC's `confusion` plot template expects."""
    lines = ["actual,predicted"]
    lines += [f"{classes[a]},{classes[p]}" for a, p in zip(labels, predicted)]
    return "\n".join(lines) + "\n"


def write_test_plots(
    plots: str | os.PathLike,
    report: dict,
    labels: np.ndarray,
    predicted: np.ndarray,
    classes: Sequence[str],
    subject: str,
) -> list[dict]:
    """Move the confusion matrix and the top confusions out of `report` (of
    `evaluation.classification_metrics`: what stays is the metrics file's scalars) into
    `plots`/report.json, confusion.csv and confusion_matrix.png, titled `subject` with the count
    and accuracy; return the top confusions, for the log."""
    plots = Path(plots)
    matrix = report.pop("confusion_matrix")
    confusions = report.pop("top_confusions")
    write_json(plots / "report.json", {"confusion_matrix": matrix, "top_confusions": confusions})
    write_text(plots / "confusion.csv", confusion_rows(labels, predicted, classes))
    title = f"{subject} (n={report['n']}, accuracy {report['accuracy']:.1%})"
    plot_confusion_matrix(np.array(matrix), classes, title, plots / "confusion_matrix.png")
    return confusions


def class_count_table(stages: dict[str, dict[str, int]], classes: Sequence[str]) -> str:
    """CSV, one row per class, one column per data stage (for DVC bar plots)."""
    columns = [name.replace(" ", "_") for name in stages]
    rows = ["class," + ",".join(columns)]
    rows += [f"{c}," + ",".join(str(counts.get(c, 0)) for counts in stages.values()) for c in classes]
    return "\n".join(rows) + "\n"


def plot_class_counts(
    stages: dict[str, dict[str, int]],
    classes: Sequence[str],
    title: str,
    path: str | os.PathLike,
    unit: str = "faces",
) -> None:
    """Grouped bars: items (`unit`) per class at each data stage, each bar labelled with its count."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(7.0, 1.6 * len(classes) + 2), 4.8))
    width = 0.8 / len(stages)
    x = np.arange(len(classes))
    for i, (stage, counts) in enumerate(stages.items()):
        values = [counts.get(c, 0) for c in classes]
        bars = ax.bar(x + (i - (len(stages) - 1) / 2) * width, values, width, label=stage)
        ax.bar_label(bars, labels=[f"{v:,}" for v in values], fontsize=7, rotation=90, padding=2)
    ax.set_xticks(x, classes)
    ax.set_xlabel("class")
    ax.set_ylabel(unit)
    ax.set_title(title)
    ax.margins(y=0.18)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never on them
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)
