"""The PNG plots are made for people: titled, labelled, nothing drawn over the data."""

import matplotlib.colors
import numpy as np
import pytest

from stressvision import reports

CLASSES = ["neutral", "stress", "sad", "happy", "fatigue", "pleasant_surprise", "angry"]


@pytest.fixture
def figures(monkeypatch, tmp_path):
    """The figures the plot functions draw, laid out as saved, with the path each was saved to."""
    drawn = {}
    save = reports._save

    def keep(fig, path):
        save(fig, path)  # lays it out and writes the PNG, as the stages do
        fig.canvas.draw()
        drawn[path.name] = fig

    monkeypatch.setattr(reports, "_save", keep)
    monkeypatch.setattr(reports._pyplot(), "close", lambda fig: None)
    return drawn, tmp_path


def history(steps: int) -> dict[str, list[float]]:
    falling, rising = np.linspace(1.5, 0.1, steps), np.linspace(0.3, 0.95, steps)
    return {
        "loss": list(falling),
        "accuracy": list(rising),
        "val_loss": list(falling + 0.2),
        "val_accuracy": list(rising - 0.05),
    }


def labelled(ax) -> bool:
    return bool(ax.get_title() and ax.get_xlabel() and ax.get_ylabel())


def test_class_count_legend_covers_no_bar_and_no_count(figures):
    """The voice sample's counts: every class as tall, no empty corner for the legend."""
    drawn, tmp = figures
    counts = {"mapped": 48, "train": 30, "balanced train": 90, "val": 6, "test": 12}
    stages = {stage: dict.fromkeys(CLASSES, n) for stage, n in counts.items()}
    reports.plot_class_counts(stages, CLASSES, "Faces per class", tmp / "counts.png")
    fig = drawn["counts.png"]
    ax, renderer = fig.axes[0], fig.canvas.get_renderer()
    assert labelled(ax)
    legend = ax.get_legend().get_window_extent(renderer)
    covered = [patch.get_window_extent(renderer) for patch in ax.patches]
    covered += [text.get_window_extent(renderer) for text in ax.texts]
    assert covered and not any(legend.overlaps(box) for box in covered)
    assert fig.bbox.contains(legend.x1 - 1, legend.y0 + 1)  # beside the axes, inside the image
    ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    assert not any(a.overlaps(b) for a, b in zip(ticks, ticks[1:]))


@pytest.mark.parametrize("steps,many", [(30, False), (612, True)])
def test_training_curves_stay_readable_for_many_steps(figures, steps, many):
    """Epochs are marked; hundreds of L-BFGS iterations are a plain line on a log axis."""
    drawn, tmp = figures
    reports.plot_training_curves(history(steps), "curves", tmp / "curves.png", kept_epoch=steps)
    for ax in drawn["curves.png"].axes:
        assert labelled(ax) and ax.get_legend() is not None
        assert ax.get_xscale() == ("log" if many else "linear")
        markers = {line.get_marker() for line in ax.get_lines()[:2]}
        assert markers == ({"None"} if many else {"o"})


def contrast(a, b) -> float:
    """WCAG contrast ratio of two colours."""

    def luminance(colour):
        rgb = np.array(matplotlib.colors.to_rgb(colour))
        rgb = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_confusion_cell_text_contrasts_with_its_cell(figures):
    drawn, tmp = figures
    n = len(CLASSES)
    matrix = np.arange(n * n).reshape(n, n) % 11 + np.diag(np.arange(n) * 7)  # shares from 0 to 1
    reports.plot_confusion_matrix(matrix, CLASSES, "confusion", tmp / "confusion.png")
    ax = drawn["confusion.png"].axes[0]
    assert labelled(ax) and len(ax.texts) == n * n
    image = ax.get_images()[0]
    cells = image.cmap(image.norm(image.get_array()))
    for text in ax.texts:
        col, row = (int(round(v)) for v in text.get_position())
        assert contrast(text.get_color(), cells[row, col]) >= 4.5, text.get_text()


def test_test_plots_take_the_matrix_out_of_the_metrics_and_write_it_for_people_and_dvc(figures):
    from stressvision.evaluation import classification_metrics
    from stressvision.fileio import read_json

    drawn, tmp = figures
    classes = CLASSES[:3]
    labels = np.array([0, 0, 1, 1, 2, 2])
    probabilities = np.eye(3)[[0, 1, 1, 1, 2, 0]]
    report = classification_metrics(labels, probabilities, classes, top_confusions=5)
    confusions = reports.write_test_plots(tmp, report, labels, probabilities.argmax(1), classes, "model X")
    assert "confusion_matrix" not in report and "top_confusions" not in report  # the metrics: scalars
    assert report["accuracy"] == pytest.approx(4 / 6)
    written = read_json(tmp / "report.json")
    assert written["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert written["top_confusions"] == confusions and len(confusions) == 2
    rows = (tmp / "confusion.csv").read_text().splitlines()
    assert rows[0] == "actual,predicted" and rows[1:] == [
        "neutral,neutral",
        "neutral,stress",
        "stress,stress",
        "stress,stress",
        "sad,sad",
        "sad,neutral",
    ]
    ax = drawn["confusion_matrix.png"].axes[0]
    assert ax.get_title() == "model X (n=6, accuracy 66.7%)" and labelled(ax)
