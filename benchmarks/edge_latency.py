"""End-to-end edge latency: face detection + crop + TFLite classification on a 640x480 frame,
or on each frame of a video file as the stress monitor reads it (decoding included).

    python -m benchmarks.edge_latency --model models/tflite/int8.tflite --face photo.jpg [--runs 200]
    python -m benchmarks.edge_latency --model pretrained/face_fer2013_stress --video clip.mp4 [--runs 300]

One LiteRT thread, as on one core. Target (issue: edge stress monitor): <= 20 ms per frame.
With --face the frame is the photo scaled to 200x200 on a flat 640x480 background (detection
is cheapest there); with --video it is each frame after 10 warm-up frames, up to --runs, the
face found as `stressvision predict VIDEO` finds it (near the last one, the whole frame every
25th frame) classified.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.latency_table import print_parts
from benchmarks.script import one_line_errors, positive_int
from stressvision.edge import FaceDetector, load_face_models, read_gray
from stressvision.errors import DataError
from stressvision.monitor import FULL_SEARCH_EVERY, FaceTracker

TARGET_MS = 20.0


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", action="append", required=True, help="a face model; repeat to time an ensemble"
    )
    frames = parser.add_mutually_exclusive_group(required=True)
    frames.add_argument("--face", help="an image of one face")
    frames.add_argument("--video", help="a video file: time each of its frames")
    parser.add_argument("--runs", type=positive_int, default=200, help="timed runs (--video: frames)")
    parser.add_argument(
        "--full-every",
        type=positive_int,
        default=FULL_SEARCH_EVERY,
        help=f"--video: frames between whole-frame face searches (default {FULL_SEARCH_EVERY}, as the "
        "monitor; 1: every frame, no tracking)",
    )
    args = parser.parse_args()

    model = load_face_models(args.model, num_threads=1)
    detector = FaceDetector()
    if args.video:
        time_video(
            args.video, model, FaceTracker(detector, args.full_every), args.runs, " + ".join(args.model)
        )
        return
    face = Image.fromarray(read_gray(Path(args.face)))
    frame_img = Image.new("L", (640, 480), 90)
    frame_img.paste(face.resize((200, 200), Image.BICUBIC), (220, 140))
    frame = np.asarray(frame_img)

    def one_frame() -> tuple[int, float, float]:
        """Faces found, detection ms, crop + classification ms."""
        t0 = time.perf_counter()
        boxes = detector.faces(frame)
        t1 = time.perf_counter()
        if boxes:
            model.predict(np.stack([detector.crop(frame, b) for b in boxes]))
        return len(boxes), (t1 - t0) * 1000, (time.perf_counter() - t1) * 1000

    faces = [one_frame()[0] for _ in range(10)]  # warm-up
    if not faces[-1]:  # the timing would be of detection alone: nothing was classified
        raise DataError(f"{args.face}: no face found in the frame; give a photo of one face, front on")
    stages = {"detect": [], "classify": [], "total": []}
    for _ in range(args.runs):
        _, detect_ms, classify_ms = one_frame()
        stages["detect"].append(detect_ms)
        stages["classify"].append(classify_ms)
        stages["total"].append(detect_ms + classify_ms)
    print(
        f"edge_latency: {' + '.join(args.model)}, TTA {model.tta}, 640x480 frame, "
        f"faces found per frame: {faces[-1]}, {args.runs} runs"
    )
    print_verdict(print_parts(stages))


def print_verdict(p95: float) -> None:
    print(
        f"end-to-end p95 {p95:.2f} ms, target <= {TARGET_MS:.0f} ms: {'PASS' if p95 <= TARGET_MS else 'MISS'}"
    )


def time_video(path: str, model, tracker: FaceTracker, runs: int, label: str, warmup: int = 10) -> None:
    """Per frame: decoding (to grayscale), face search (`tracker`), and classification of the face."""
    from stressvision.monitor import video_frames

    parts = {"decode": [], "detect": [], "classify": [], "total": []}
    frames = video_frames(path, warmup + runs)
    with_face = read = 0
    size = ""
    while True:
        t0 = time.perf_counter()
        gray = next(frames, (None, None))[1]
        if gray is None:
            break
        t1 = time.perf_counter()
        boxes = tracker.faces(gray)
        t2 = time.perf_counter()
        if boxes:
            model.predict(tracker.detector.crop(gray, boxes[0])[None])
        t3 = time.perf_counter()
        read += 1
        size = f"{gray.shape[1]}x{gray.shape[0]}"
        if read > warmup:
            with_face += bool(boxes)
            for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                parts[name].append(seconds * 1000)
    if not parts["total"]:
        raise DataError(f"{path}: {read} frame(s); needs more than the {warmup} warm-up frames")
    if not with_face:
        raise DataError(f"{path}: no face found in any timed frame: nothing was classified")
    timed = len(parts["total"])
    print(
        f"edge_latency: {label}, TTA {model.tta}, {path}: {size} frames, whole-frame search every "
        f"{tracker.full_every}, "
        f"a face in {with_face} of {timed} timed frames ({read - timed} warm-up)"
    )
    p95 = print_parts(parts)
    print(f"frames per second (mean): {1000 / np.mean(parts['total']):.1f}")
    print_verdict(p95)


if __name__ == "__main__":
    main()
