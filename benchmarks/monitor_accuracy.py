"""The video stress monitor's accuracy, frame by frame, on a clip of labelled faces.

    python -m benchmarks.monitor_accuracy --model pretrained/face_fer2013_stress --data fer2013/test
        [--per-class 30] [--frames-per-face 10] [--face-px 160] [--seed 0]

Labelled video of faces does not exist here, so this makes it: each of `--per-class` faces
drawn from every class folder of `--data` is shown for `--frames-per-face` frames, moving 4 px
a frame over a drifting busy background (640x480, 25 fps, MP4), and the clip is read back as
`stressvision predict VIDEO` reads it: decoded, the face tracked (`FaceTracker`), the largest
face cropped and classified. A frame counts when a face was found; it is right when the class
is that of the face shown. The figure includes what the monitor adds to `evaluate`'s: video
compression, resampling to the frame and back, and the detector's framing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from benchmarks.detector_framing import FRAME_HEIGHT, FRAME_WIDTH, face_width
from benchmarks.script import draw_faces, face_set_parser, one_line_errors, positive_int
from benchmarks.synthetic_video import drifting_background, gray_video_writer
from stressvision.edge import FaceDetector, face_crop_from_file, load_face_models
from stressvision.errors import DataError
from stressvision.monitor import FaceTracker, video_frames

STEP_PX = 4  # how far the face moves each frame


def write_labelled_clip(
    faces: list[np.ndarray], frames_per_face: int, side: int, path: Path, rng: np.random.Generator
) -> None:
    """Each face `side` px wide for `frames_per_face` frames, moving diagonally from a random start."""
    import cv2

    travel = STEP_PX * (frames_per_face - 1)
    if travel + side > min(FRAME_WIDTH, FRAME_HEIGHT):
        raise DataError(
            f"a {side} px face moving {travel} px does not fit a {FRAME_WIDTH}x{FRAME_HEIGHT} frame"
        )
    background = drifting_background(FRAME_HEIGHT, FRAME_WIDTH, rng)
    index = 0
    with gray_video_writer(path, (FRAME_WIDTH, FRAME_HEIGHT), 25.0) as write:
        for face in faces:
            large = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
            left = int(rng.integers(0, FRAME_WIDTH - side - travel + 1))
            top = int(rng.integers(0, FRAME_HEIGHT - side - travel + 1))
            for step in range(frames_per_face):
                frame = background(index)
                x, y = left + STEP_PX * step, top + STEP_PX * step
                frame[y : y + side, x : x + side] = large
                write(frame)
                index += 1


@one_line_errors
def main() -> None:
    parser = face_set_parser(__doc__, per_class=30)
    parser.add_argument("--frames-per-face", type=positive_int, default=10, help="default 10")
    parser.add_argument(
        "--face-px", type=face_width, default=160, help="face width in the frame (default 160)"
    )
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    model = load_face_models(args.model)
    paths, labels = draw_faces(args.data, model, args.per_class, rng)
    shown = np.repeat(labels, args.frames_per_face)
    detector = FaceDetector()
    tracker = FaceTracker(detector)
    predicted = []  # per frame: the class of the largest face, -1 where none was found
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "faces.mp4"
        faces = [face_crop_from_file(p) for p in paths]
        write_labelled_clip(faces, args.frames_per_face, args.face_px, clip, rng)
        print(
            f"monitor_accuracy: {len(paths)} faces of {args.data}, {args.frames_per_face} frames each, "
            f"{args.face_px} px wide; model {' + '.join(args.model)} (TTA {model.tta})"
        )
        for _, gray in video_frames(str(clip)):
            boxes = tracker.faces(gray)
            probs = model.predict(detector.crop(gray, boxes[0])[None])[0] if boxes else None
            predicted.append(-1 if probs is None else int(probs.argmax()))
    if len(predicted) != len(shown):
        raise DataError(f"the clip read back {len(predicted)} frames of the {len(shown)} written")
    predicted = np.asarray(predicted)
    found = int((predicted >= 0).sum())
    right = int((predicted == shown).sum())
    print(f"frames: {len(shown)}, a face found in {found} ({found / len(shown):.1%})")
    if found:
        print(f"class right in {right} of the {found} frames with a face: {right / found:.3f}")


if __name__ == "__main__":
    main()
