"""How the monitor's face detector frames a face, and what the framing costs the classifier.

    python -m benchmarks.detector_framing --model pretrained/face_fer2013_stress --data fer2013/test
        [--per-class 30] [--face-px 160] [--background flat|texture|reflect] [--seed 0]

Each of `--per-class` faces drawn from every class folder of `--data` (FER-2013 crops: the
framing the model learned) is pasted `--face-px` wide at a random place of a 640x480 frame and
searched for as `stressvision predict` searches a photo or a video's frame. Around it: a flat
grey, a busy texture, or the face's own pixels mirrored (a head goes on past a crop; a pasted
square's hard edge does not occur in a camera frame). The model then classifies it three ways:
from its file as training read it; cropped at exactly the pasted square (what the 48 -> face-px
-> 48 px resampling alone costs); and cropped at the detector's box (what the monitor sees).
The box's width and centre are given relative to the pasted square, so a detector that frames
faces tighter, looser or off-centre from FER-2013 shows as such.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.script import draw_faces, face_set_parser, one_line_errors, positive_int
from benchmarks.synthetic_video import busy_background
from stressvision.edge import FaceDetector, face_crop_from_file, load_face_models
from stressvision.errors import DataError

FRAME_WIDTH, FRAME_HEIGHT = 640, 480


def face_width(text: str) -> int:
    """argparse type for --face-px: from the stored faces' 48 px to the frame's height."""
    value = positive_int(text)
    if not 48 <= value <= FRAME_HEIGHT:
        raise argparse.ArgumentTypeError(f"must be from 48 to {FRAME_HEIGHT}, got {value}")
    return value


def box_overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0, width) * max(0, height)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def paste(face: np.ndarray, side: int, background: str, rng: np.random.Generator):
    """`face` resized to `side` px at a random place of a 640x480 frame: frame, square box.

    `background`: flat grey, busy texture, or `reflect`: the face's own pixels mirrored beyond
    its square, as a face and head continue past a crop (and as training fills a warped face).
    """
    import cv2

    large = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    left, top = int(rng.integers(0, FRAME_WIDTH - side + 1)), int(rng.integers(0, FRAME_HEIGHT - side + 1))
    if background == "reflect":
        right, bottom = FRAME_WIDTH - side - left, FRAME_HEIGHT - side - top
        frame = cv2.copyMakeBorder(large, top, bottom, left, right, cv2.BORDER_REFLECT)
        return frame, (left, top, side, side)
    if background == "flat":
        frame = np.full((FRAME_HEIGHT, FRAME_WIDTH), 90, np.uint8)
    else:
        frame = busy_background(FRAME_HEIGHT, FRAME_WIDTH, FRAME_WIDTH / 100, rng)
    frame[top : top + side, left : left + side] = large
    return frame, (left, top, side, side)


def percentiles(values: np.ndarray) -> str:
    p5, p25, p50, p75, p95 = np.percentile(values, [5, 25, 50, 75, 95])
    return f"median {p50:+.3f}, middle half {p25:+.3f} to {p75:+.3f}, 90 % {p5:+.3f} to {p95:+.3f}"


@one_line_errors
def main() -> None:
    parser = face_set_parser(__doc__, per_class=30)
    parser.add_argument("--face-px", type=face_width, default=160, help="pasted face width (default 160)")
    parser.add_argument(
        "--background",
        choices=("flat", "texture", "reflect"),
        default="flat",
        help="around the face: grey, busy texture, or the face mirrored (default flat)",
    )
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    model = load_face_models(args.model)
    detector = FaceDetector()
    paths, labels = draw_faces(args.data, model, args.per_class, rng)
    print(
        f"detector_framing: {len(paths)} faces of {args.data}, pasted {args.face_px} px wide on a "
        f"{FRAME_WIDTH}x{FRAME_HEIGHT} {args.background} frame; model {' + '.join(args.model)} "
        f"(TTA {model.tta})"
    )
    files, squares, boxed, found, geometry = [], [], [], [], []
    for i, path in enumerate(paths, 1):
        face = face_crop_from_file(path)
        frame, square = paste(face, args.face_px, args.background, rng)
        files.append(face)
        squares.append(detector.crop(frame, square))
        boxes = detector.faces(frame)
        best = max(boxes, key=lambda b: box_overlap(b, square), default=None)
        if best is not None and box_overlap(best, square) > 0.25:
            found.append(i - 1)
            boxed.append(detector.crop(frame, best))
            x, y, w, h = best
            side = square[2]
            geometry.append(
                (
                    w / side,
                    (x + w / 2 - square[0] - side / 2) / side,
                    (y + h / 2 - square[1] - side / 2) / side,
                )
            )
        if i % 50 == 0 or i == len(paths):
            print(f"  {i}/{len(paths)} faces, detector found {len(found)}", flush=True)
    if not found:
        raise DataError("the detector found none of the pasted faces; try a larger --face-px")

    def accuracy(crops: list[np.ndarray], which: list[int]) -> float:
        return float(np.mean(model.predict(np.stack(crops)).argmax(axis=1) == labels[which]))

    every, found_only = list(range(len(paths))), [squares[i] for i in found]
    geometry = np.asarray(geometry)
    print(f"found: {len(found)} of {len(paths)} faces (box overlapping the pasted square by IoU > 0.25)")
    print(f"box width / face width - 1: {percentiles(geometry[:, 0] - 1)}")
    print(f"box centre right of the face's, in face widths: {percentiles(geometry[:, 1])}")
    print(f"box centre below the face's, in face widths: {percentiles(geometry[:, 2])}")
    print("accuracy:")
    print(f"  from the files ({len(paths)} faces): {accuracy(files, every):.3f}")
    print(f"  cropped at the pasted square ({len(paths)} faces): {accuracy(squares, every):.3f}")
    print(f"  cropped at the pasted square ({len(found)} found faces): {accuracy(found_only, found):.3f}")
    print(f"  cropped at the detector's box ({len(found)} found faces): {accuracy(boxed, found):.3f}")


if __name__ == "__main__":
    main()
