"""Stress monitoring on video: the smoothed score, the alert, and the `predict` video path."""

from __future__ import annotations

import io
import json
import math
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
    (folder / "notes.txt").write_text("where these were taken")  # a file the user sees: named
    model = str(pipeline_project / "models/tflite")
    result = stressvision("predict", "--model", model, str(folder))
    assert result.returncode == 1 and result.stdout == "", result.stderr  # an empty answer is not success
    assert our_lines(result.stderr) == [
        f"warning: {folder}: 1 file(s) of other types left out (notes.txt)",
        f"warning: {folder / 'a.png'}: no face found",
        f"warning: {folder / 'b.avi'}: no face in any of the 12 frames classified; faces under about 40 px "
        "wide are missed in a 640 px frame: raise --detect-width",
        f"warning: {folder / 'c.png'}: no face found; if the images are face crops, add --no-detect",
        "error: no face found in any input (warnings above)",
    ]
    crops = stressvision("predict", "--no-detect", "--model", model, str(folder))
    assert crops.returncode == 1 and our_lines(crops.stderr) == [
        f"warning: {folder}: 1 file(s) of other types left out (notes.txt)",
        f"error: {folder / 'b.avi'}: --no-detect is for face-crop images; a video needs face detection: "
        "give it in a call without --no-detect"
    ]
    assert [json.loads(line)["file"] for line in crops.stdout.splitlines()] == [
        str(folder / name) for name in ("a.png", "c.png")
    ]


@pytest.mark.skipif(not REAL_FER.is_file(), reason="needs a real face from ../shared")
def test_a_cut_off_video_is_scored_on_the_frames_it_holds_and_says_so(tmp_path: Path):
    """A half-copied AVI opens and decodes up to the cut: its frames are used, with one warning
    naming how many of the header's frames were missing; a whole file gets no warning."""
    whole = write_video(tmp_path / "whole.avi", 20, real_face())
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    args = ("predict", "--model", str(STRESS_MODEL))
    result = stressvision(*args, str(cut))
    assert result.returncode == 0, result.stderr
    read = len(result.stdout.splitlines())
    assert 5 <= read < 20
    assert our_lines(result.stderr) == [
        f"warning: {cut}: decoding stopped at frame {read} of the 20 its header gives (cut off or "
        "damaged?); the frames before were used: copy the file again for all of them",
        f"{cut}: {read} frames, {read} classified, a face in {read}, alert raised 0 times",
    ]
    assert our_lines(stressvision(*args, str(whole)).stderr) == [
        f"{whole}: 20 frames, 20 classified, a face in 20, alert raised 0 times"
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
    for line in lines:  # the score is the mean over the last second of faces (1e-6: 1.2 - 1.0 < 0.2)
        recent = [
            s for s, other in zip(stress, lines) if line["t_s"] - 1.0 + 1e-6 < other["t_s"] <= line["t_s"]
        ]
        assert line["stress_score"] == pytest.approx(np.mean(recent), abs=1e-3)


def test_a_faceless_frame_leaves_the_alert_as_the_last_face_set_it():
    """A faceless frame prints no line: an alert flip there would reach the output unmarked."""
    monitor = StressMonitor([1], window_s=1.0, threshold=0.6, hysteresis=0.1)
    p = lambda stress: np.array([1 - stress, stress])  # noqa: E731
    assert monitor.update(0.0, p(1.0))[1] is True
    assert monitor.update(0.5, p(0.1)) == (pytest.approx(0.55), True)  # in the band: kept
    assert monitor.update(1.2, None) == (pytest.approx(0.1), True)  # 1.0 left; no face: no flip
    assert monitor.update(1.3, p(0.9)) == (pytest.approx(0.5), True)  # the band again: still on
    assert monitor.update(1.4, p(0.0)) == (pytest.approx(1 / 3), False)


@pytest.mark.parametrize("fps", [25.0, 29.97, 30.0, 60.0])
def test_the_window_holds_the_same_frames_at_every_frame(fps: float):
    """`t - window` in floating point must not keep the frame exactly `window` seconds old on
    some frames and drop it on others: a score of frame numbers is their exact mean."""
    monitor = StressMonitor([0], window_s=5.0)
    size = math.ceil(5.0 * fps)  # frames in (t - 5 s, t]
    for i in range(1000):
        score, _ = monitor.update(i / fps, np.array([float(i)]))
        first = max(0, i - size + 1)
        assert score == pytest.approx((first + i) / 2), (fps, i)


class _BrightnessFaces:
    """A stand-in detector and model: a frame brighter than 40 holds a face whose stress
    probability is its brightness / 250, so a test video states its own answers."""

    classes = ["calm", "stress"]
    source_to_class: dict = {}

    def faces(self, gray: np.ndarray, near: tuple | None = None) -> list[tuple[int, int, int, int]]:
        return [(0, 0, 48, 48)] if gray.mean() > 40 else []

    def crop(self, gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        return gray[:48, :48]

    def predict(self, crops: np.ndarray) -> np.ndarray:
        stress = crops.reshape(len(crops), -1).mean(axis=1) / 250
        return np.stack([1 - stress, stress], axis=1)


def test_alert_changed_marks_every_flip_the_output_shows(tmp_path: Path, capsys):
    """Stress, then calm, then no face while the window empties of the stressed frames, then
    stress: each change of `alert` between printed lines is marked and counted once."""
    import argparse

    import cv2

    from stressvision.cli import monitor_video

    path = tmp_path / "gap.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64))
    for level in [225] * 10 + [75] * 5 + [0] * 10 + [175] * 3 + [75] * 10:  # stress 0.9 / 0.3 / 0.7
        writer.write(np.full((64, 64, 3), level, np.uint8))
    writer.release()
    args = argparse.Namespace(window=1.0, threshold=0.6, hysteresis=0.1, every=1, max_frames=0, model="m")
    fake = _BrightnessFaces()
    assert monitor_video(args, fake, fake, str(path)) == 28
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    alerts = [False] + [line["alert"] for line in lines]
    assert [line["alert_changed"] for line in lines] == [a != b for a, b in zip(alerts, alerts[1:])]
    raised = sum(line["alert"] and line["alert_changed"] for line in lines)
    assert raised == 1 and err.endswith(f"alert raised {raised} times\n")


def _slow_second_half(mp4: Path) -> None:
    """Make an OpenCV-written MP4 variable-frame-rate, as phones record: the second half of its
    frames last twice as long (its `stts` gets two entries, its durations grow by half; the
    index sits after the frames, so no offset moves)."""
    import struct

    def rewrite(data: bytes) -> bytes:
        out, pos = b"", 0
        while pos < len(data):
            size, kind = struct.unpack(">I4s", data[pos : pos + 8])
            body = data[pos + 8 : pos + size]
            if kind in (b"moov", b"trak", b"edts", b"mdia", b"minf", b"stbl"):
                body = rewrite(body)
            elif kind == b"stts":
                _, _, count, delta = struct.unpack(">IIII", body[:16])
                half = count // 2
                body = struct.pack(">IIIIII", 0, 2, half, delta, count - half, 2 * delta)
            elif kind in (b"mvhd", b"mdhd", b"tkhd", b"elst"):  # version 0 boxes
                at = {b"mvhd": 16, b"mdhd": 16, b"tkhd": 20, b"elst": 8}[kind]
                (duration,) = struct.unpack(">I", body[at : at + 4])
                body = body[:at] + struct.pack(">I", duration * 3 // 2) + body[at + 4 :]
            out += struct.pack(">I4s", len(body) + 8, kind) + body
            pos += size
        return out

    mp4.write_bytes(rewrite(mp4.read_bytes()))


def test_a_variable_frame_rate_video_keeps_its_own_time(tmp_path: Path):
    """t_s is each frame's timestamp, not its number / the container's average frame rate."""
    import cv2

    from stressvision.monitor import video_frames

    path = tmp_path / "phone.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for _ in range(10):
        writer.write(np.full((48, 64, 3), 90, np.uint8))
    writer.release()
    _slow_second_half(path)
    times = [t_s for t_s, _ in video_frames(str(path))]
    assert times == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9, 1.1, 1.3], abs=1e-3)


def test_the_small_face_hint_names_the_width_under_which_faces_are_missed():
    """Detection runs on a copy `detect_width` wide: its smallest face (20 px there) scaled back."""
    from stressvision.edge import FaceDetector

    video = FaceDetector(detect_width=320)
    hint = video.small_face_hint(1920)
    assert hint == "; faces under about 120 px wide are missed in a 1920 px frame: raise --detect-width"
    assert "about 60 px" in FaceDetector(detect_width=640).small_face_hint(1920)
    assert video.small_face_hint(320) == video.small_face_hint(200) == ""  # searched at full size


class _CountingDetector:
    """A stand-in detector that records each search: whole frame (None) or near a box."""

    def __init__(self, found: list[bool]):
        self.found, self.calls = iter(found), []

    def faces(self, gray: np.ndarray, near: tuple | None = None) -> list[tuple[int, int, int, int]]:
        self.calls.append(near)
        return [(10, 10, 50, 50)] if next(self.found) else []


def test_the_tracker_searches_the_whole_frame_every_full_every_frames_and_when_the_face_is_lost():
    from stressvision.monitor import FaceTracker

    detector = _CountingDetector([True] * 7 + [False, True] + [True] * 3 + [False] * 3 + [False])
    tracker = FaceTracker(detector, full_every=3)
    kinds = []
    for _ in range(13):
        tracker.faces(np.zeros((8, 8), np.uint8))
        kinds.append("".join("F" if near is None else "n" for near in detector.calls))
        detector.calls.clear()
    # frames 0, 3, 6 whole; frame 7's near search loses the face: the whole frame at once, and
    # again from there; frames without a face: the whole frame each time
    assert kinds == ["F", "n", "n", "F", "n", "n", "F", "nF", "n", "n", "F", "nF", "F"]


@pytest.mark.skipif(not REAL_FER.is_file(), reason="needs real faces from ../shared")
def test_a_search_near_the_last_face_finds_it_and_not_a_face_elsewhere():
    """The near search gives the whole-frame box (in the frame's pixels) of the face it follows,
    and leaves a larger face elsewhere to the next whole-frame search."""
    from PIL import Image

    from stressvision.edge import FaceDetector

    small, large = (np.asarray(Image.open(io.BytesIO(j)).convert("L")) for j in fer_happy_faces(2))
    frame = np.full((480, 640), 90, np.uint8)
    frame[60:200, 40:180] = np.asarray(Image.fromarray(small).resize((140, 140)))
    frame[150:370, 380:600] = np.asarray(Image.fromarray(large).resize((220, 220)))
    detector = FaceDetector()
    whole = detector.faces(frame)
    assert len(whole) == 2 and whole[0][2] > whole[1][2]  # largest first
    near = detector.faces(frame, near=whole[1])
    assert len(near) == 1
    (x, y, w, h), (a, b, c, d) = near[0], whole[1]
    overlap = max(0, min(x + w, a + c) - max(x, a)) * max(0, min(y + h, b + d) - max(y, b))
    assert overlap / (w * h + c * d - overlap) > 0.8, (near, whole)
