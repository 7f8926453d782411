"""Stress monitoring over time: a smoothed stress score per frame and an alert with hysteresis.

One frame's prediction is noisy (a blink, a head turn, a detector miss); a person's state is
not. The score averages the stress probability over the last `window_s` seconds of frames
with a face; the alert switches on when the score reaches `threshold` and off only when it
falls below `threshold - hysteresis`, so it does not flicker around the threshold.
TensorFlow-free, for the edge.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from stressvision.errors import DataError

if TYPE_CHECKING:
    from stressvision.edge import FaceDetector

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".3gp")
STRESS_SOURCES = ("angry", "disgust", "fear")  # the source emotions the product calls stress
# A frame exactly `window_s` old leaves the window on every frame: without this margin,
# `t - window_s` in floating point keeps it on some frames (126 of 25 fps in 5 s) and not others.
WINDOW_EDGE_S = 1e-6
FULL_SEARCH_EVERY = 25  # frames between whole-frame face searches: a second at 25 fps


def stress_classes(classes: list[str], source_to_class: dict[str, str | None]) -> list[int]:
    """Indices of the model's classes that stand for stress: `stress` itself, or whatever
    classes the stress emotions map to (angry, disgust, fear for a 7-emotion model)."""
    names = {"stress"} | {source_to_class.get(s) or "" for s in STRESS_SOURCES}
    found = [i for i, c in enumerate(classes) if c in names]
    if not found:
        raise DataError(f"the model's classes ({', '.join(classes)}) include no stress class to monitor")
    return found


@dataclass
class FaceTracker:
    """A video's face boxes frame by frame: searched near the last face (`FaceDetector.faces`
    with `near`: on a busy 640x480 background 4 ms a frame instead of 33), and in the whole
    frame every `full_every` frames (a second at 25 fps) and whenever the face is lost, so that
    a face that enters, or a larger one, is taken within that many frames."""

    detector: FaceDetector
    full_every: int = FULL_SEARCH_EVERY
    _last: tuple[int, int, int, int] | None = None
    _since_full: int = 0

    def faces(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        boxes = []
        if self._last is not None and self._since_full < self.full_every - 1:
            boxes = self.detector.faces(gray, near=self._last)
            self._since_full += 1
        if not boxes:
            boxes = self.detector.faces(gray)
            self._since_full = 0
        self._last = boxes[0] if boxes else None
        return boxes


@dataclass
class StressMonitor:
    stress_indices: list[int]
    window_s: float = 5.0
    threshold: float = 0.6
    hysteresis: float = 0.1
    alert: bool = False
    _recent: deque = field(default_factory=deque)

    def update(self, t_s: float, probabilities: np.ndarray | None) -> tuple[float | None, bool]:
        """Add one frame (probabilities None: no face) at time `t_s`; return (score, alert).

        Only a frame with a face moves the alert: a faceless frame prints no line, so a flip
        there would reach the output unmarked (no `alert_changed`) and uncounted. Its time still
        passes: older faces leave the window.
        """
        if probabilities is not None:
            self._recent.append((t_s, float(np.sum(probabilities[self.stress_indices]))))
        while self._recent and self._recent[0][0] <= t_s - self.window_s + WINDOW_EDGE_S:
            self._recent.popleft()
        if not self._recent:
            return None, self.alert
        score = float(np.mean([p for _, p in self._recent]))
        if probabilities is None:
            return score, self.alert
        if score >= self.threshold:
            self.alert = True
        elif score < self.threshold - self.hysteresis:
            self.alert = False
        return score, self.alert


def video_frames(
    source: str | int, max_frames: int = 0, on_cut_short: Callable[[str], None] | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """(the frame's time in seconds, grayscale frame) from a video file or a camera index.

    A file that stops decoding before the frame count its header gives (copied in part, or
    damaged) ends there, the frames read kept; `on_cut_short` gets one line on it.
    """
    import cv2

    what = f"camera {source}" if isinstance(source, int) else str(source)
    if not isinstance(source, int) and not os.path.isfile(source):
        raise DataError(f"{source}: no such video file")
    # One line of ours, not OpenCV's WARN lines for a camera or FFmpeg's for a broken file
    # (FFmpeg's level is read when the first capture opens; 8: AV_LOG_FATAL).
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        hint = "check the index and permissions" if isinstance(source, int) else "not a readable video file"
        raise DataError(f"cannot open {what}: {hint}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    started = cv2.getTickCount()

    def clock() -> float:
        return (cv2.getTickCount() - started) / cv2.getTickFrequency()

    count = 0
    try:
        while not max_frames or count < max_frames:
            ok, frame = capture.read()
            if not ok:
                if count == 0:
                    raise DataError(f"{what}: no frame could be decoded")
                if on_cut_short and (note := _cut_short_note(what, count, capture)):
                    on_cut_short(note)
                return
            if isinstance(source, int):  # live: wall-clock time
                t_s = clock()
            elif (stamp_ms := capture.get(cv2.CAP_PROP_POS_MSEC)) > 0 or count == 0:
                # the frame's own time: a variable-frame-rate video (phones record them) drifts
                # from count / fps, fps being the container's average
                t_s = stamp_ms / 1000
            else:  # a file without timestamps
                t_s = count / fps if fps > 0 else clock()
            count += 1
            yield t_s, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    finally:
        capture.release()


def _cut_short_note(what: str, count: int, capture) -> str | None:
    """Frames the header gives but the file lacks; some containers estimate the count from
    duration x frame rate, hence the 1 % slack."""
    import cv2

    announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if announced - count <= max(1, announced // 100):
        return None
    return (
        f"{what}: decoding stopped at frame {count} of the {announced} its header gives "
        "(cut off or damaged?); the frames before were used: copy the file again for all of them"
    )


def is_video(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(VIDEO_SUFFIXES)
