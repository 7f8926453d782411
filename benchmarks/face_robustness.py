"""A face model's accuracy on softened faces: what a camera's faces cost it against FER-2013's.

    python -m benchmarks.face_robustness --model pretrained/face_fer2013_stress --data fer2013/test
        [--per-class 100] [--seed 0]

FER-2013's crops are sharp 48-px faces. A camera's face is downscaled from a frame, often
defocused or moving, and the monitor crops it from a frame in which a 48-px face was never
stored. Each face of `--data` (every one, or `--per-class` drawn from each class folder) is
scored as stored, blurred by a Gaussian of sigma 0.5, 0.7 and 1.0 px, brought down to 40 px
(the smallest face `stressvision predict` looks for) and 32 px and back (INTER_AREA, then
bilinear), and pasted 160 px wide and cropped back (bicubic up, INTER_AREA down: what
`benchmarks.detector_framing` calls the pasted square).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks.script import draw_faces, face_set_parser, one_line_errors
from stressvision.edge import face_crop_from_file, load_face_models
from stressvision.face_format import FACE_SIZE


def degradations() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Name -> a function of one 48x48 uint8 face, in the order they are printed."""
    import cv2

    def blur(sigma: float):
        return lambda face: cv2.GaussianBlur(face, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)

    def resolution(side: int):
        def down_up(face: np.ndarray) -> np.ndarray:
            small = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
            return cv2.resize(small, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_LINEAR)

        return down_up

    def pasted(face: np.ndarray) -> np.ndarray:
        large = cv2.resize(face, (160, 160), interpolation=cv2.INTER_CUBIC)
        return cv2.resize(large, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)

    return {
        "as stored": lambda face: face,
        "blurred, sigma 0.5 px": blur(0.5),
        "blurred, sigma 0.7 px": blur(0.7),
        "blurred, sigma 1.0 px": blur(1.0),
        "40 px and back": resolution(40),
        "32 px and back": resolution(32),
        "pasted 160 px and cropped back": pasted,
    }


@one_line_errors
def main() -> None:
    parser = face_set_parser(__doc__, per_class=None)
    args = parser.parse_args()

    model = load_face_models(args.model)
    paths, labels = draw_faces(args.data, model, args.per_class, np.random.default_rng(args.seed))
    faces = [face_crop_from_file(p) for p in paths]
    print(
        f"face_robustness: {len(faces)} faces of {args.data}, "
        f"model {' + '.join(args.model)} (TTA {model.tta})"
    )
    print(f"{'faces':<32} accuracy")
    for name, degrade in degradations().items():
        predicted = model.predict(np.stack([degrade(f) for f in faces])).argmax(axis=1)
        print(f"{name:<32} {np.mean(predicted == labels):.4f}", flush=True)


if __name__ == "__main__":
    main()
