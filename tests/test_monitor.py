"""Stress monitoring on video: the smoothed score, the alert, and the `predict` video path."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stressvision.errors import DataError
from stressvision.monitor import StressMonitor, stress_classes
from tests.conftest import EMOTIONS_MODEL, REAL_FER, ROOT, STRESS_MODEL, fer_happy_faces
from tests.test_edge import our_lines, stressvision


def write_video(path: Path, frames: int, face: np.ndarray | None = None, face_every: int = 1) -> Path:
    """An MJPG video of 640x480 grey frames at 10 fps, `face` pasted into the middle of every frame
    but each `face_every`-th one."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    for i in range(frames):
        frame = np.full((480, 640), 90, np.uint8)
        if face is not None and (face_every == 1 or i % face_every):
            frame[140:340, 220:420] = face
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def real_face() -> np.ndarray:
    """A FER-2013 happy face at 200x200."""
    from PIL import Image

    (jpeg,) = fer_happy_faces(1)
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("L").resize((200, 200), Image.BICUBIC))


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
    missing = tmp_path / "missing.mp4"
    result = stressvision("predict", "--model", model, str(broken), str(missing), "--camera", "99")
    assert result.returncode == 1 and result.stdout == ""
    assert our_lines(result.stderr) == [  # and no OpenCV WARN lines
        f"error: cannot open {broken}: not a readable video file",
        f"error: {missing}: no such video file",
        "error: cannot open camera 99: check the index and permissions",
    ]


def test_folders_give_videos_and_images_in_order_and_a_faceless_video_says_so(
    pipeline_project: Path, tmp_path: Path
):
    from PIL import Image

    folder = tmp_path / "inputs"
    (folder / ".thumbnails").mkdir(parents=True)
    Image.new("L", (640, 480), 90).save(folder / "a.png")
    write_video(folder / "b.avi", 12)
    Image.new("L", (48, 48), 90).save(folder / "c.png")
    for junk in (folder / "._a.png", folder / ".thumbnails" / "d.png"):  # macOS and viewer droppings
        junk.write_bytes(b"not an image")
    model = str(pipeline_project / "models/tflite")
    result = stressvision("predict", "--model", model, str(folder))
    assert result.returncode == 1 and result.stdout == "", result.stderr  # an empty answer is not success
    assert our_lines(result.stderr) == [
        f"warning: {folder / 'a.png'}: no face found",
        f"warning: {folder / 'b.avi'}: no face in any of the 12 frames classified",
        f"warning: {folder / 'c.png'}: no face found; if the images are face crops, add --no-detect",
        "error: no face found in any input (warnings above)",
    ]
    crops = stressvision("predict", "--no-detect", "--model", model, str(folder))
    assert crops.returncode == 1 and our_lines(crops.stderr) == [
        f"error: {folder / 'b.avi'}: --no-detect is for face-crop images; a video needs face detection: "
        "give it in a call without --no-detect"
    ]
    assert [json.loads(line)["file"] for line in crops.stdout.splitlines()] == [
        str(folder / name) for name in ("a.png", "c.png")
    ]


def test_a_model_without_a_stress_class_names_the_video_and_the_model(tmp_path: Path):
    model = tmp_path / "moods"
    model.mkdir()
    (model / "int8.tflite").write_bytes((STRESS_MODEL / "int8.tflite").read_bytes())
    config = json.loads((STRESS_MODEL / "model_config.json").read_text())
    config |= {"classes": ["calm", "tense", "low", "up"], "source_to_class": {}}
    (model / "model_config.json").write_text(json.dumps(config))
    video = write_video(tmp_path / "clip.avi", 2)
    result = stressvision("predict", "--model", str(model), str(video))
    assert result.returncode == 1 and our_lines(result.stderr) == [
        f"error: {video}: the model's classes (calm, tense, low, up) include no stress class to monitor "
        f"(--model {model}); give a stress or an emotion model"
    ]


@pytest.mark.skipif(not REAL_FER.is_file(), reason="needs a real face from ../shared")
def test_a_closed_pipe_and_ctrl_c_end_the_monitor_quietly(pipeline_project: Path, tmp_path: Path):
    """`predict ... | head -1`, and Ctrl-C, the way a camera session ends: no traceback."""
    video = write_video(tmp_path / "long.avi", 600, real_face())
    model = str(pipeline_project / "models/tflite")
    command = [sys.executable, "-m", "stressvision.cli", "predict", "--model", model, str(video)]
    run = {"cwd": ROOT, "stderr": subprocess.PIPE, "text": True}
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first line
    piped = subprocess.run(command, stdout=write_end, timeout=300, **run)
    os.close(write_end)
    assert piped.returncode == 1 and "Traceback" not in piped.stderr, piped.stderr
    default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731 - a background job ignores it
    with subprocess.Popen(command, stdout=subprocess.PIPE, preexec_fn=default_sigint, **run) as live:
        assert json.loads(live.stdout.readline())["frame"] == 0
        live.send_signal(signal.SIGINT)
        _, stderr = live.communicate(timeout=300)
    assert live.returncode == 130 and "Traceback" not in stderr, stderr
    assert our_lines(stderr)[-1].startswith(f"{video}: ") and "600 frames" not in stderr  # stopped early


@pytest.mark.skipif(not REAL_FER.is_file(), reason="needs a real face from ../shared")
@pytest.mark.parametrize("models", ["pipeline", "ensemble"])
def test_a_video_gets_a_smoothed_score_per_frame(pipeline_project: Path, tmp_path: Path, models: str):
    """The pipeline's model, or the shipped stress model with the 7-emotion model beside it."""
    path = write_video(tmp_path / "clip.avi", 20, real_face(), face_every=5)  # every fifth: no face
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
    raised = sum(line["alert"] and line["alert_changed"] for line in lines)
    summary = f"{path}: 20 frames, 20 classified, a face in {len(lines)}, alert raised {raised} times"
    assert our_lines(result.stderr) == [summary]
    stress = [line["probabilities"]["stress"] for line in lines]
    for line in lines:  # the score is the mean over the last second of faces
        recent = [s for s, other in zip(stress, lines) if line["t_s"] - 1.0 < other["t_s"] <= line["t_s"]]
        assert line["stress_score"] == pytest.approx(np.mean(recent), abs=1e-3)
