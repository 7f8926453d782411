"""Reading face archives in the Kaggle FER-2013 layout and mapping them onto target classes."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
from PIL import Image

from stressvision.errors import DataError
from stressvision.fileio import atomic_path
from stressvision.labels import FER2013_EMOTIONS, LabelMap

FACE_SIZE = 48  # FER-2013's image size: every face is stored as 48x48 grayscale
OFFICIAL_SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class FaceSet:
    """Decoded faces: uint8 images (N, 48, 48), integer labels, official split ids."""

    images: np.ndarray
    labels: np.ndarray
    official_split: np.ndarray
    skipped: Counter = field(default_factory=Counter)


def copy_local_archive(source: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Use an archive the user already has (no network); copied atomically."""
    if not os.path.isfile(source):
        raise DataError(f"archive not found: {source}; fix download.fer2013_archive in params.yaml")
    with atomic_path(destination) as tmp:
        shutil.copyfile(source, tmp)


def decode_face(data: bytes, size: int = FACE_SIZE) -> np.ndarray:
    """Decode any image file to a size x size grayscale uint8 array (raises on bad data)."""
    with Image.open(io.BytesIO(data)) as img:
        img.draft("L", (size, size))  # JPEG: decode at reduced scale when the file is large
        img = img.convert("L")
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def read_fer_archive(path: str | os.PathLike, progress: bool = True) -> FaceSet:
    """Decode every `{train,test}/<emotion>/<image>` of a FER-2013-layout zip.

    Files that are not images of a known emotion, or fail to decode, are skipped and counted.
    """
    label_of = {name: i for i, name in enumerate(FER2013_EMOTIONS)}
    images, labels, splits = [], [], []
    skipped: Counter = Counter()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: not a readable zip archive ({exc}); delete it and rerun download") from None
    with archive:
        entries = [e for e in archive.infolist() if not e.is_dir()]
        for n, entry in enumerate(entries, 1):
            parts = PurePosixPath(entry.filename).parts
            if len(parts) < 3 or parts[-3] not in OFFICIAL_SPLITS:
                skipped["not under train/<emotion>/ or test/<emotion>/"] += 1
                continue
            split, emotion = parts[-3], parts[-2]
            if emotion not in label_of:
                skipped[f"unknown emotion folder {emotion!r}"] += 1
                continue
            if not entry.filename.lower().endswith(IMAGE_SUFFIXES):
                skipped["not an image file"] += 1
                continue
            try:
                images.append(decode_face(archive.read(entry)))
            except Exception:  # noqa: BLE001 - any decoder failure means a corrupt file
                skipped["corrupt or unreadable image"] += 1
                continue
            labels.append(label_of[emotion])
            splits.append(OFFICIAL_SPLITS.index(split))
            if progress and n % 5000 == 0:
                print(f"  decoded {n}/{len(entries)} files", flush=True)
    if not images:
        raise DataError(f"{path}: no face images in the train/<emotion>/ or test/<emotion>/ layout")
    return FaceSet(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int16),
        official_split=np.asarray(splits, dtype=np.int8),
        skipped=skipped,
    )


def apply_label_map(
    faces: FaceSet, label_map: LabelMap, source_classes: tuple[str, ...], empty_classes: str
) -> tuple[FaceSet, tuple[str, ...], list[str]]:
    """Map source labels onto the target classes; return (faces, final classes, empty classes).

    A target class with no images is dropped from the class list (or an error, when
    `empty_classes` is "error"): a softmax unit that never sees a positive cannot be learnt.
    """
    lookup = label_map.source_to_target_index(source_classes)
    target = lookup[faces.labels]
    keep = target >= 0
    target = target[keep]
    counts = np.bincount(target, minlength=len(label_map.classes))
    empty = [c for c, n in zip(label_map.classes, counts) if n == 0]
    if empty and empty_classes == "error":
        raise DataError(
            f"class {empty[0]!r} has no images; add photos for it or set map_labels.empty_classes: drop"
        )
    final = tuple(c for c, n in zip(label_map.classes, counts) if n > 0)
    if len(final) < 2:
        raise DataError(f"only {len(final)} class has images; a classifier needs at least 2")
    renumber = np.cumsum(counts > 0) - 1
    mapped = FaceSet(
        images=faces.images[keep],
        labels=renumber[target].astype(np.int16),
        official_split=faces.official_split[keep],
        skipped=faces.skipped,
    )
    return mapped, final, empty


def class_counts(labels: np.ndarray, classes: tuple[str, ...] | list[str]) -> dict[str, int]:
    counts = np.bincount(labels, minlength=len(classes))
    return {name: int(n) for name, n in zip(classes, counts)}
