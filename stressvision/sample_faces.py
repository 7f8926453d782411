"""A deterministic generator of synthetic 48x48 grayscale faces with FER-2013's 7 expressions.

The archive has exactly the Kaggle `msambare/fer2013` layout, so the sample and the real data
run through the same code. Expressions differ in brows, eyes and mouth; pose, size, lighting
and noise are random, so a model has to learn the expression, not a fixed template.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from stressvision.face_format import FACE_SIZE
from stressvision.fileio import atomic_path
from stressvision.labels import FER2013_EMOTIONS

_CANVAS = 96  # drawn at twice the size, then downsampled for smooth edges
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: same seed, same archive bytes


@dataclass(frozen=True)
class Expression:
    """Mean facial action of one emotion, in canvas pixels (brows, eyes) and unit scales."""

    brow_raise: float  # up is positive
    brow_tilt: float  # inner ends lowered (frown) is positive, raised (worry) negative
    eye_open: float  # 1 = relaxed
    mouth_curve: float  # corners up (smile) is positive
    mouth_open: float  # 0 closed, 1 wide open
    mouth_width: float  # 1 = relaxed
    sneer: float = 0.0  # one-sided upper-lip raise and nose wrinkle (disgust)


EXPRESSIONS: dict[str, Expression] = {
    "angry": Expression(-3.0, 6.0, 0.65, -2.0, 0.0, 0.85),
    "disgust": Expression(-2.0, 3.0, 0.55, -3.0, 0.15, 0.9, sneer=1.0),
    "fear": Expression(4.0, -4.0, 1.45, -1.5, 0.45, 1.1),
    "happy": Expression(0.5, 0.0, 0.8, 6.0, 0.35, 1.15),
    "sad": Expression(1.0, -6.0, 0.75, -5.0, 0.0, 0.9),
    "surprise": Expression(7.0, 0.0, 1.6, 0.0, 1.0, 0.7),
    "neutral": Expression(0.0, 0.0, 1.0, 0.0, 0.0, 1.0),
}
assert set(EXPRESSIONS) == set(FER2013_EMOTIONS)


def draw_face(rng: np.random.Generator, emotion: str) -> np.ndarray:
    """One 48x48 uint8 face showing `emotion`, with random identity, pose and lighting."""
    e = EXPRESSIONS[emotion]
    jitter = rng.normal(0.0, 1.0, size=7)
    brow_raise = e.brow_raise + 1.5 * jitter[0]
    brow_tilt = e.brow_tilt + 1.5 * jitter[1]
    eye_open = max(0.25, e.eye_open + 0.12 * jitter[2])
    mouth_curve = e.mouth_curve + 1.2 * jitter[3]
    mouth_open = max(0.0, e.mouth_open + 0.1 * jitter[4])
    mouth_width = e.mouth_width + 0.06 * jitter[5]
    sneer = e.sneer * (0.7 + 0.3 * abs(jitter[6]))

    background = rng.uniform(20, 235)
    skin = rng.uniform(110, 210)
    feature = max(0.0, skin - rng.uniform(70, 110))  # brows, pupils, lips: darker than skin
    img = Image.new("L", (_CANVAS, _CANVAS), int(background))
    draw = ImageDraw.Draw(img)

    cx, cy = 48 + rng.normal(0, 2), 50 + rng.normal(0, 2)
    rx, ry = rng.uniform(27, 33), rng.uniform(35, 41)
    if rng.random() < 0.6:  # hair
        hair = rng.uniform(10, 90)
        draw.ellipse([cx - rx - 3, cy - ry - 6, cx + rx + 3, cy + ry * 0.2], fill=int(hair))
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=int(skin))

    eye_y = cy - 0.18 * ry
    eye_dx = 0.4 * rx
    eye_w = rng.uniform(8, 10)
    for side in (-1, 1):
        ex = cx + side * eye_dx
        eh = 3.2 * eye_open
        draw.ellipse([ex - eye_w / 2, eye_y - eh, ex + eye_w / 2, eye_y + eh], fill=235)
        pr = min(2.6, eh)
        draw.ellipse([ex - pr, eye_y - pr, ex + pr, eye_y + pr], fill=int(feature))
        # Brow: outer end at (outer_x, by), inner end lowered by brow_tilt.
        by = eye_y - 8 - brow_raise
        inner_x, outer_x = ex - side * 6, ex + side * 6
        draw.line([(outer_x, by), (inner_x, by + brow_tilt)], fill=int(feature), width=3)

    nose_y = cy + 0.15 * ry
    draw.line([(cx, eye_y + 4), (cx - 2, nose_y), (cx + 2, nose_y)], fill=int(skin * 0.75), width=2)
    if sneer:
        for dy in (-3, 0):
            draw.line([(cx - 5, eye_y + 6 + dy), (cx - 1, eye_y + 8 + dy)], fill=int(feature), width=1)

    _draw_mouth(draw, cx, cy + 0.5 * ry, 10 * mouth_width, mouth_curve, mouth_open, sneer, feature)

    angle = rng.normal(0, 8)
    img = img.rotate(angle, resample=Image.BILINEAR, fillcolor=int(background))
    scale = rng.uniform(0.85, 1.1)
    crop = _CANVAS / scale
    ox, oy = rng.normal(0, 3, size=2)
    left, top = (_CANVAS - crop) / 2 + ox, (_CANVAS - crop) / 2 + oy
    img = img.transform(
        (FACE_SIZE, FACE_SIZE),
        Image.EXTENT,
        (left, top, left + crop, top + crop),
        resample=Image.BILINEAR,
        fillcolor=int(background),
    )
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.6)))

    pixels = np.asarray(img, dtype=np.float32)
    gx, gy = rng.normal(0, 0.6, size=2)
    ramp = np.linspace(-1.0, 1.0, FACE_SIZE, dtype=np.float32)
    lighting = 1.0 + 0.25 * (gx * ramp[None, :] + gy * ramp[:, None]) / 2
    pixels = pixels * lighting * rng.uniform(0.8, 1.15) + rng.normal(0, rng.uniform(2, 9), pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _draw_mouth(draw, mx, my, half_width, curve, opening, sneer, colour) -> None:
    """Upper and lower lip as curves; an open mouth is the dark area between them."""
    xs = np.linspace(-1.0, 1.0, 21)
    # Corners (|x| = 1) rise by `curve`, the middle stays: a smile is positive curve.
    base = -curve * xs**2
    lift = sneer * 3.0 * np.clip(xs, 0, None)  # one-sided raise
    gap = 7.0 * opening * (1 - xs**2)
    upper = [(mx + half_width * x, my + b - g / 2 - lf) for x, b, g, lf in zip(xs, base, gap, lift)]
    lower = [(mx + half_width * x, my + b + g / 2) for x, b, g in zip(xs, base, gap)]
    if opening > 0.05:
        draw.polygon(upper + lower[::-1], fill=int(colour * 0.4))
    draw.line(upper, fill=int(colour), width=2)
    draw.line(lower, fill=int(colour), width=2)


def write_sample_archive(
    path: str | os.PathLike,
    train_per_class: int,
    test_per_class: int,
    seed: int,
    progress: bool = True,
) -> Path:
    """Write the synthetic dataset as a zip in the Kaggle FER-2013 layout; return its path.

    Each emotion has its own random stream, so the images of one class do not change when
    another class's count does.
    """
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for split, per_class, prefix, stream in (
            ("train", train_per_class, "Training", 0),
            ("test", test_per_class, "PrivateTest", 1),
        ):
            for label, emotion in enumerate(FER2013_EMOTIONS):
                rng = np.random.default_rng([seed, stream, label])
                for i in range(per_class):
                    buf = io.BytesIO()
                    Image.fromarray(draw_face(rng, emotion)).save(buf, format="JPEG", quality=92)
                    info = zipfile.ZipInfo(f"{split}/{emotion}/{prefix}_{label}{i:06d}.jpg", _ZIP_DATE)
                    archive.writestr(info, buf.getvalue())
                if progress:
                    print(f"  sample {split:5s} {emotion:8s} {per_class:5d} faces", flush=True)
    return Path(path)


def face_grid(per_emotion: int = 6, seed: int = 0) -> np.ndarray:
    """A grid of faces (rows: emotions in FER-2013 order), for eyeballing the generator."""
    rows = []
    for label, emotion in enumerate(FER2013_EMOTIONS):
        rng = np.random.default_rng([seed, 9, label])
        rows.append(np.concatenate([draw_face(rng, emotion) for _ in range(per_emotion)], axis=1))
    return np.concatenate(rows, axis=0)
