"""A test clip for `edge_latency --video`: one face photo on a flat or a moving textured
background, so video timings can be reproduced without shipping a video.

    python -m benchmarks.synthetic_video --face face.jpg --out clip.mp4 [--size 1280x720]
        [--background texture] [--frames 300] [--fps 25]

The textured background (blurred noise drifting a pixel per frame) gives the face detector
the edges a room has, which a flat one does not: detection costs more on it. The face is a
third of the frame's height, in the middle. MP4 (mp4v) or AVI (MJPG) by the file's suffix.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from benchmarks.script import one_line_errors, positive_int
from stressvision.edge import read_gray
from stressvision.errors import DataError
from stressvision.fileio import atomic_path

CODECS = {".mp4": "mp4v", ".avi": "MJPG"}


def frame_size(text: str) -> tuple[int, int]:
    """argparse type for WIDTHxHEIGHT."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 640x480, got {text!r}") from None
    if not (96 <= width <= 7680 and 96 <= height <= 4320):
        raise argparse.ArgumentTypeError(f"each side from 96 to 7680x4320, got {text}")
    return width, height


def busy_background(height: int, width: int, blur_px: float, rng: np.random.Generator) -> np.ndarray:
    """Noise blurred by `blur_px` around grey 90 (uint8): the edges and eye-like blobs of a busy
    room, which make a Haar cascade work harder than a flat wall does."""
    import cv2

    noise = rng.normal(0, 1, (height, width)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), blur_px)
    return np.clip(90 + texture / texture.std() * 35, 0, 255).astype(np.uint8)


DRIFT_PERIOD = 64  # the texture drifts a pixel a frame, and back to the start every 64 frames


def drifting_background(height: int, width: int, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    """frame index -> a fresh copy of a busy (height, width) background that drifts a pixel a
    frame; blurred by a hundredth of the width, it looks the same at every frame size."""
    texture = busy_background(height + DRIFT_PERIOD, width + DRIFT_PERIOD, width / 100, rng)

    def frame(index: int) -> np.ndarray:
        shift = index % DRIFT_PERIOD
        return texture[shift : shift + height, shift : shift + width].copy()

    return frame


@contextlib.contextmanager
def gray_video_writer(out: Path, size: tuple[int, int], fps: float) -> Iterator[Callable[[np.ndarray], None]]:
    """`write(frame)` for grayscale frames of `size` into `out` (.mp4: mp4v, .avi: MJPG), the file
    closed on the way out; a DataError where OpenCV cannot write it."""
    import cv2

    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*CODECS[out.suffix.lower()]), fps, size)
    if not writer.isOpened():
        raise DataError(f"{out}: OpenCV cannot write this video here")
    try:
        yield lambda frame: writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    finally:
        writer.release()


def write_clip(
    face: np.ndarray, out: Path, size: tuple[int, int], textured: bool, frames: int, fps: float
) -> None:
    """`frames` frames of `face` (grayscale) centred at a third of the frame height."""
    import cv2

    width, height = size
    side = height // 3
    face = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    top, left = (height - side) // 2, (width - side) // 2
    background = drifting_background(height, width, np.random.default_rng(0))
    with gray_video_writer(out, size, fps) as write:
        for i in range(frames):
            frame = background(i) if textured else np.full((height, width), 90, np.uint8)
            frame[top : top + side, left : left + side] = face
            write(frame)


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--face", required=True, help="an image of one face (a FER-2013 jpg will do)")
    parser.add_argument("--out", required=True, type=Path, help="the clip to write: .mp4 or .avi")
    parser.add_argument("--size", type=frame_size, default=(640, 480), help="WIDTHxHEIGHT (default 640x480)")
    parser.add_argument("--background", choices=("flat", "texture"), default="texture")
    parser.add_argument("--frames", type=positive_int, default=300)
    parser.add_argument("--fps", type=float, default=25.0)
    args = parser.parse_args()
    if args.out.suffix.lower() not in CODECS:
        parser.error(f"--out {args.out}: give a .mp4 or .avi file")
    if not 1 <= args.fps <= 240:
        parser.error(f"--fps must be from 1 to 240, got {args.fps:g}")
    face = read_gray(Path(args.face))
    with atomic_path(args.out) as tmp:  # a stopped run leaves no half clip to time
        write_clip(face, tmp, args.size, args.background == "texture", args.frames, args.fps)
    print(
        f"synthetic_video: {args.out}: {args.frames} frames, {args.size[0]}x{args.size[1]}, {args.background}"
    )


if __name__ == "__main__":
    main()
