"""Using a trained model on the edge: TFLite + LiteRT, no TensorFlow.

A model is a `.tflite` file with `model_config.json` beside it (classes, the mapping from
source emotions, input format), as the quantize stage writes them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import UnidentifiedImageError

from stressvision.datasets import (
    IMAGE_SUFFIXES,
    MAX_FILE_BYTES,
    TOO_MANY_BYTES,
    ImageTooLarge,
    decode_face,
    gray_image,
    open_image,
)
from stressvision.errors import DataError
from stressvision.face_format import FACE_SIZE
from stressvision.litert import TFLiteClassifier
from stressvision.model_config import CONFIG_NAME, bundle_tta, resolve_model
from stressvision.tta import TTA_MODES


@dataclass
class EdgeModel:
    classifier: TFLiteClassifier
    classes: list[str]
    source_to_class: dict[str, str | None]
    tta: str = "none"

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Class probabilities of (N, 48, 48) face crops, with the bundle's test-time augmentation."""
        return self.classifier.predict(crops.astype(np.float32), tta=self.tta)

    def class_of_folder(self, name: str) -> str | None:
        """A folder named after a class, or after a source emotion the model maps to a class."""
        if name in self.classes:
            return name
        target = self.source_to_class.get(name)
        return target if target in self.classes else None


def load_edge_model(
    path: str | os.PathLike, num_threads: int | None = None, tta: str | None = None
) -> EdgeModel:
    """A face model: see `resolve_model` for what `path` may be. `tta`: None runs it with the
    test-time augmentation its model_config.json names; a TTA mode overrides that."""
    path, config = resolve_model(path)
    config_path = path.parent / CONFIG_NAME
    if config.get("modality", "face") != "face":  # it would fail later, on a tensor shape
        raise DataError(f"{path}: a {config['modality']} model, not a face model")
    classifier = TFLiteClassifier(path, num_threads=num_threads)
    n_out = int(classifier.output["shape"][-1])
    if n_out != len(config["classes"]):  # present: resolve_model checked it
        raise DataError(f"{config_path}: {len(config['classes'])} classes for a model with {n_out} outputs")
    tta = bundle_tta(config) if tta is None else tta
    if tta not in TTA_MODES:
        raise DataError(f"{config_path}: tta {tta!r} is not one of {', '.join(TTA_MODES)}")
    return EdgeModel(classifier, list(config["classes"]), dict(config.get("source_to_class", {})), tta)


@dataclass
class EdgeEnsemble:
    """Face models averaged in the first model's classes.

    Models trained on different label schemes err differently, so a 7-emotion model beside a
    stress model gains more than a second stress model does (BENCHMARKS.md).
    Each member runs with its own TTA; its probabilities are summed into the lead model's
    classes by name or through the lead's source_to_class (7 emotions -> stress classes).
    """

    members: list[EdgeModel]
    projections: list[np.ndarray]  # per member: (member classes, lead classes) of 0/1

    @property
    def classes(self) -> list[str]:
        return self.members[0].classes

    @property
    def source_to_class(self) -> dict[str, str | None]:
        return self.members[0].source_to_class

    @property
    def tta(self) -> str:
        return " + ".join(member.tta for member in self.members)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """The members' class probabilities of (N, 48, 48) crops in the lead's classes, each
        member's normalised to sum to 1 (INT8 outputs miss by a little; a dropped class by more),
        averaged."""
        total = 0.0
        for member, projection in zip(self.members, self.projections):
            projected = member.predict(crops) @ projection
            total = total + projected / np.maximum(projected.sum(axis=1, keepdims=True), 1e-12)
        return total / len(self.members)

    def class_of_folder(self, name: str) -> str | None:
        return self.members[0].class_of_folder(name)


def class_projection(lead: EdgeModel, member: EdgeModel, member_name: str) -> np.ndarray:
    """(member classes, lead classes) 0/1: where each of the member's classes goes in the lead's.

    A member class the lead drops (source_to_class maps it to nothing) adds to no class.
    """
    projection = np.zeros((len(member.classes), len(lead.classes)), np.float32)
    for row, name in enumerate(member.classes):
        target = lead.class_of_folder(name)
        if target is not None:
            projection[row, lead.classes.index(target)] = 1.0
    if not projection.any():
        raise DataError(
            f"{member_name}: none of its classes ({', '.join(member.classes)}) is or maps to one of "
            f"the first model's ({', '.join(lead.classes)}); these models cannot be averaged"
        )
    missing = [c for c, column in zip(lead.classes, projection.T) if not column.any()]
    if missing:
        raise DataError(
            f"{member_name}: none of its classes ({', '.join(member.classes)}) maps to the first "
            f"model's {', '.join(missing)}; put the model with the coarser classes first"
        )
    return projection


def load_face_models(
    paths: list[str | os.PathLike], num_threads: int | None = None, tta: str | None = None
) -> EdgeModel | EdgeEnsemble:
    """One face model, or an ensemble of several that answers in the first one's classes."""
    members = [load_edge_model(path, num_threads=num_threads, tta=tta) for path in paths]
    if len(members) == 1:
        return members[0]
    projections = [class_projection(members[0], m, str(p)) for m, p in zip(members, paths)]
    return EdgeEnsemble(members, projections)


VIDEO_DETECT_WIDTH = 320  # a 640x480 frame at half size: real time on a Pi
PHOTO_DETECT_WIDTH = 1280  # a 12 MP photo's 100 px faces still fill the cascade's 24 px window


class FaceDetector:
    """OpenCV's bundled frontal-face Haar cascade (ships inside opencv-python-headless)."""

    def __init__(self, min_size: int = 40, detect_width: int = VIDEO_DETECT_WIDTH):
        import cv2

        self.cv2 = cv2
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if self.cascade.empty():
            raise DataError("OpenCV's face cascade could not be loaded; reinstall opencv-python-headless")
        self.min_size = min_size
        self.detect_width = detect_width

    def _min_side(self, scale: float) -> int:
        """The smallest face side searched for, in the pixels of the copy detection runs on."""
        return max(20, round(self.min_size * scale))

    def small_face_hint(self, width: int) -> str:
        """For a no-face warning: in a frame wider than `detect_width`, the face width under
        which faces are missed, and the option that lowers it."""
        if width <= self.detect_width:
            return ""
        smallest = round(self._min_side(self.detect_width / width) * width / self.detect_width)
        return (
            f"; faces under about {smallest} px wide are missed in a {width} px frame: raise --detect-width"
        )

    def faces(
        self, gray: np.ndarray, near: tuple[int, int, int, int] | None = None
    ) -> list[tuple[int, int, int, int]]:
        """Face boxes (x, y, w, h) in `gray`'s pixels, largest first.

        Detection runs on a copy at most `detect_width` wide (a 640x480 frame at 320: 4x fewer
        pixels, about 4x faster), so faces narrower than about 24 px times width / detect_width
        are missed; the crops are still taken from the full-resolution frame.
        `near`, a face box of the previous video frame: search only around it (half its size
        beyond each side) and at its scale (0.75x to 1.33x). A face moves little from frame to
        frame, and the cascade's cost is in the positions and scales it tries: on a busy
        background a whole 640x480 frame took about 12x as long.
        An OpenCV failure is a DataError, so one odd image is one error line, not a traceback.
        """
        height, width = gray.shape[:2]
        scale = min(1.0, self.detect_width / width)
        min_side, max_side, x0, y0 = self._min_side(scale), 0, 0, 0  # max 0: no limit
        region = gray
        if near is not None:
            x, y, w, h = near
            x0, y0 = max(0, x - w // 2), max(0, y - h // 2)
            region = gray[y0 : y + h + h // 2, x0 : x + w + w // 2]
            min_side = max(min_side, round(0.75 * w * scale))
            max_side = max(min_side, round(1.33 * w * scale))
        small = region
        try:
            if scale < 1.0:  # at least 1 px each side: a 4000x3 strip would round to height 0
                size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
                small = self.cv2.resize(region, size, interpolation=self.cv2.INTER_AREA)
            boxes = self.cascade.detectMultiScale(
                small,
                scaleFactor=1.2,
                minNeighbors=4,
                minSize=(min_side, min_side),
                maxSize=(max_side, max_side),
            )
        except self.cv2.error as exc:  # exc.err: the failed check, without OpenCV's source path
            raise DataError(f"face detection failed on a {width}x{height} image ({exc.err})") from None
        boxes = [
            (x0 + round(bx / scale), y0 + round(by / scale), round(bw / scale), round(bh / scale))
            for bx, by, bw, bh in boxes
        ]
        return sorted(boxes, key=lambda b: -b[2] * b[3])

    def crop(self, gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The face box, resized to the stored face format (48x48 grayscale)."""
        x, y, w, h = box
        face = gray[y : y + h, x : x + w]
        return self.cv2.resize(face, (FACE_SIZE, FACE_SIZE), interpolation=self.cv2.INTER_AREA)


def unreadable_image(path: Path, exc: Exception) -> DataError:
    """One line that says why: too large, empty, not an image, the system's reason for a missing or
    locked file, the decoder's (a truncated JPEG), else the decoder's exception name."""
    if isinstance(exc, ImageTooLarge):
        why = f"too large: {exc}"
    elif isinstance(exc, UnidentifiedImageError):
        why = "empty file" if path.is_file() and path.stat().st_size == 0 else "not an image format PIL reads"
    elif isinstance(exc, OSError) and (exc.strerror or str(exc)):
        why = exc.strerror or str(exc).splitlines()[0]
    else:
        why = type(exc).__name__
    return DataError(f"{path}: not a readable image ({why})")


def read_gray(path: Path) -> np.ndarray:
    """The whole image as grayscale uint8 at its own size, converted as training images are
    (`gray_image`) and refused when huge (as `decode_face` refuses them)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImageTooLarge(TOO_MANY_BYTES)
        with open_image(path) as img:
            return np.asarray(gray_image(img), dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise unreadable_image(path, exc) from None


class LabelledFaces(NamedTuple):
    """A folder-per-class set: what is read, and what is left out, so that it can be said."""

    paths: list[Path]
    labels: np.ndarray
    other_classes: dict[str, int]  # folder that is no class of the model: its image count
    other_files: list[str]  # not an image in a class folder, or loose beside the folders


def labelled_faces(root: str | os.PathLike, model: EdgeModel | EdgeEnsemble) -> LabelledFaces:
    """Images in `root/<class or source emotion>/`, with the folders that are no class of the
    model and the files that are not images in a class folder (both left out, and counted)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of class folders")
    paths, labels, other_classes = [], [], {}
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    other_files = [p.name for p in entries if p.is_file()]
    for folder in (p for p in entries if p.is_dir()):
        images, others = visible_files(folder, IMAGE_SUFFIXES)
        target = model.class_of_folder(folder.name)
        if target is None:
            other_classes[folder.name] = len(images)
            continue
        paths += images
        labels += [model.classes.index(target)] * len(images)
        other_files += [str(p.relative_to(root)) for p in others]
    return LabelledFaces(paths, np.asarray(labels, dtype=np.int64), other_classes, sorted(other_files))


def visible_files(folder: Path, suffixes: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    """A folder's files with one of `suffixes`, and its other files (to be named, not skipped in
    silence), each sorted; hidden ones (macOS `._x.jpg`, viewers' `.thumbnails/`) left out: what
    a user sees in the folder is what is read."""
    wanted, others = [], []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts):
            (wanted if p.suffix.lower() in suffixes else others).append(p)
    return wanted, others


def face_crop_from_file(path: Path) -> np.ndarray:
    """A labelled face crop file, decoded exactly as training images were."""
    try:
        return decode_face(path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise unreadable_image(path, exc) from None
