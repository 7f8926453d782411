"""End-to-end edge latency: face detection + crop + TFLite classification on a 640x480 frame.

    python -m benchmarks.edge_latency --model models/tflite/int8.tflite --face photo.jpg [--runs 200]

One LiteRT thread, as on one core. Target (issue: edge stress monitor): <= 20 ms per frame.
The frame is the face photo scaled to 200x200 on a flat 640x480 background.
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

TARGET_MS = 20.0


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", action="append", required=True, help="a face model; repeat to time an ensemble"
    )
    parser.add_argument("--face", required=True, help="an image of one face")
    parser.add_argument("--runs", type=positive_int, default=200)
    args = parser.parse_args()

    face = Image.fromarray(read_gray(Path(args.face)))
    model = load_face_models(args.model, num_threads=1)
    detector = FaceDetector()
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
    p95 = print_parts(stages)
    print(
        f"end-to-end p95 {p95:.2f} ms, target <= {TARGET_MS:.0f} ms: {'PASS' if p95 <= TARGET_MS else 'MISS'}"
    )


if __name__ == "__main__":
    main()
