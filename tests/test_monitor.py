"""Stress monitoring on video: the smoothed score, the alert, and the `predict` video path."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stressvision.errors import DataError
from stressvision.monitor import StressMonitor, stress_classes
from tests.test_edge import EMOTIONS_MODEL, REAL_FER, STRESS_MODEL, stressvision


def test_stress_classes_follow_the_models_mapping():
    assert stress_classes(["neutral", "stress", "sad", "happy"], {}) == [1]
    seven = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert stress_classes(seven, {e: e for e in seven}) == [0, 1, 2]
    with pytest.raises(DataError, match="no stress class"):
        stress_classes(["happy", "sad"], {"happy": "happy"})


def test_the_score_averages_the_window_and_the_alert_does_not_flicker():
    monitor = StressMonitor([1], window_s=1.0, threshold=0.6, hysteresis=0.1)
    p = lambda stress: np.array([1 - stress, stress])  # noqa: E731
    assert monitor.update(0.0, p(0.2)) == (pytest.approx(0.2), False)
    assert monitor.update(0.5, p(1.0)) == (pytest.approx(0.6), True)  # mean of 0.2 and 1.0
    assert monitor.update(0.9, None) == (pytest.approx(0.6), True)  # no face: nothing added
    assert monitor.update(1.2, p(0.3)) == (pytest.approx(0.65), True)  # 0.0 left the window
    assert monitor.update(1.6, p(0.5)) == (pytest.approx(0.4), False)  # below 0.6 - 0.1: alert off
    monitor.update(1.7, p(0.6))
    assert monitor.update(1.8, p(0.52))[1] is False  # 0.54 is between 0.5 and 0.6: state kept
    assert monitor.update(9.0, None) == (None, False)  # a window without faces has no score


def test_unreadable_videos_and_missing_cameras_are_one_line_each(pipeline_project: Path, tmp_path: Path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    model = str(pipeline_project / "models/tflite")
    result = stressvision("predict", "--model", model, str(broken), "--camera", "99")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert result.returncode == 1 and result.stdout == ""
    assert errors == [
        f"error: cannot open {broken}: not a readable video file",
        "error: cannot open camera 99: check the index and permissions",
    ]


@pytest.mark.skipif(not REAL_FER.is_file(), reason="needs a real face from ../shared")
@pytest.mark.parametrize("models", ["pipeline", "ensemble"])
def test_a_video_gets_a_smoothed_score_per_frame(pipeline_project: Path, tmp_path: Path, models: str):
    """The pipeline's model, or the shipped stress model with the 7-emotion model beside it."""
    import cv2
    from PIL import Image

    with zipfile.ZipFile(REAL_FER) as archive:
        name = next(n for n in archive.namelist() if n.startswith("test/happy/") and n.endswith(".jpg"))
        face = np.asarray(Image.open(archive.open(name)).convert("L").resize((200, 200), Image.BICUBIC))
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    for i in range(20):
        frame = np.full((480, 640), 90, np.uint8)
        if i % 5:  # every fifth frame has no face
            frame[140:340, 220:420] = face
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    folders = {
        "pipeline": [pipeline_project / "models/tflite"],
        "ensemble": [STRESS_MODEL, EMOTIONS_MODEL],
    }[models]
    args = [arg for folder in folders for arg in ("--model", str(folder))]
    result = stressvision("predict", *args, str(path), "--window", "1")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert 12 <= len(lines) <= 16 and all(
        line["frame"] % 5 for line in lines
    )  # faceless frames print nothing
    assert [line["t_s"] for line in lines] == sorted(line["t_s"] for line in lines)
    stress = [line["probabilities"]["stress"] for line in lines]
    for line in lines:  # the score is the mean over the last second of faces
        recent = [s for s, other in zip(stress, lines) if line["t_s"] - 1.0 < other["t_s"] <= line["t_s"]]
        assert line["stress_score"] == pytest.approx(np.mean(recent), abs=1e-3)
