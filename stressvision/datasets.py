"""Reading faces: FER-2013 archives (Kaggle folder layout or the challenge CSV) and user photos.

Every face becomes a 48x48 grayscale uint8 array. Files that cannot be used are skipped and
counted by reason, so one bad file never stops a run and the metadata says what was left out.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np
from PIL import Image, ImageOps

from stressvision.errors import DataError
from stressvision.face_format import FACE_SIZE
from stressvision.labels import FER2013_EMOTIONS, LabelMap, labels_of_nonempty_classes, learned_units

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
MAX_IMAGE_PIXELS = 64_000_000  # decompression-bomb guard: larger images are skipped
MAX_FILE_BYTES = 64 * 2**20

# Where a face sits in its source's own split (FER-2013's Usage column / folders).
OFFICIAL_TRAIN, OFFICIAL_TEST, OFFICIAL_VAL, NO_OFFICIAL_SPLIT = 0, 1, 2, -1
FOLDER_SPLITS = {"train": OFFICIAL_TRAIN, "test": OFFICIAL_TEST}
CSV_USAGES = {"Training": OFFICIAL_TRAIN, "PrivateTest": OFFICIAL_TEST, "PublicTest": OFFICIAL_VAL}
CSV_PIXELS = FACE_SIZE * FACE_SIZE

SKIP_CORRUPT = "corrupt, truncated or empty image"
SKIP_NOT_IMAGE = "not an image file"
SKIP_TOO_LARGE = f"image over {MAX_IMAGE_PIXELS // 1_000_000} megapixels or file over 64 MB"
SKIP_UNSAFE_PATH = "unsafe path in archive (absolute or ..)"
SKIP_OUTSIDE_LAYOUT = "not under train/<emotion>/ or test/<emotion>/"
SKIP_CSV_PIXELS = f"CSV row without {CSV_PIXELS} pixel values in 0..255"
SKIP_CSV_LABEL = "CSV row with an emotion label outside 0..6"
SKIP_CSV_USAGE = "CSV row with an unknown Usage"
SKIP_UNKNOWN_FOLDER = "photos in unknown class folder {!r}"


class Skipped(Counter):
    """Files left out, counted by reason, with the first few names of each reason kept, so that
    a user can find the bad photos among hundreds."""

    EXAMPLES = 3

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.examples: dict[str, list[str]] = {}

    def add(self, reason: str, name: str, n: int = 1) -> None:
        self[reason] += n
        names = self.examples.setdefault(reason, [])
        if len(names) < self.EXAMPLES:
            names.append(name)

    def merge(self, other: Counter) -> None:
        self.update(other)
        for reason, names in getattr(other, "examples", {}).items():
            kept = self.examples.setdefault(reason, [])
            kept += names[: self.EXAMPLES - len(kept)]

    def describe(self, reason: str) -> str:
        """`reason (a, b)` with the names, `reason (first: a, b, c)` when there are more."""
        names = self.examples.get(reason, [])
        if not names:
            return reason
        first = "" if len(names) >= self[reason] else "first: "
        return f"{reason} ({first}{', '.join(names)})"


@dataclass
class FaceSet:
    """Decoded faces: uint8 images (N, 48, 48), integer labels, official split ids."""

    images: np.ndarray
    labels: np.ndarray
    official_split: np.ndarray
    skipped: Skipped = field(default_factory=Skipped)

    @classmethod
    def empty(cls) -> FaceSet:
        return cls(np.zeros((0, FACE_SIZE, FACE_SIZE), np.uint8), np.zeros(0, np.int16), np.zeros(0, np.int8))


class ImageTooLarge(Exception):
    """Refused before decoding; the message says which limit (`TOO_MANY_PIXELS` or `TOO_MANY_BYTES`)."""


TOO_MANY_PIXELS = f"over {MAX_IMAGE_PIXELS // 1_000_000} megapixels"
TOO_MANY_BYTES = f"file over {MAX_FILE_BYTES // 2**20} MB"


@contextmanager
def open_image(fp: str | os.PathLike | IO[bytes]) -> Iterator[Image.Image]:
    """Image.open that refuses huge images (ImageTooLarge) before their pixels are decoded.

    PIL's own decompression-bomb checks (at open, and in some formats' frame loading) are
    turned into the same ImageTooLarge, so every caller names one reason.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(fp) as img:
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise ImageTooLarge(TOO_MANY_PIXELS)
                yield img
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLarge(TOO_MANY_PIXELS) from None


def _to_8bit(img: Image.Image) -> Image.Image:
    """An 'I;16*', 'I' or 'F' image scaled to 8-bit grayscale ('L').

    PIL's convert("L") clips these: a 16-bit image comes out white and a 0..1 float image black.
    16-bit values map 65535 -> 255; 'I' the same when its values fit 16 bits; floats in 0..1 are
    scaled by 255; anything else is clipped to 0..255 as PIL would.
    """
    values = np.asarray(img)
    if img.mode.startswith("I;16") or (img.mode == "I" and ((values >= 0) & (values <= 65535)).all()):
        values = values / 257
    elif img.mode == "F" and ((values >= 0) & (values <= 1)).all():
        values = values * 255
    return Image.fromarray(np.clip(np.rint(np.nan_to_num(values)), 0, 255).astype(np.uint8))


def gray_image(img: Image.Image) -> Image.Image:
    """An opened image as 8-bit grayscale, the one conversion training and detection share.

    EXIF rotation is applied (phone photos), transparency is flattened onto white and high bit
    depths are scaled, so a photo looks the same to the model in training and in use.
    """
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img.alpha_composite(rgba)
    elif img.mode in ("I", "F") or img.mode.startswith("I;16"):
        img = _to_8bit(img)
    return img.convert("L")


def decode_face(data: bytes, size: int = FACE_SIZE) -> np.ndarray:
    """Decode any image file to a size x size grayscale uint8 array (see `gray_image`).

    Huge images are refused (ImageTooLarge) before their pixels are decoded.
    """
    if len(data) > MAX_FILE_BYTES:
        raise ImageTooLarge(TOO_MANY_BYTES)
    with open_image(io.BytesIO(data)) as img:
        img.draft("L", (size, size))  # JPEG: decode at reduced scale when the file is large
        img = gray_image(img)
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def try_decode(data: bytes, skipped: Skipped, name: str) -> np.ndarray | None:
    """decode_face, or None with file `name` counted in `skipped` by its reason."""
    try:
        return decode_face(data)
    except ImageTooLarge:
        skipped.add(SKIP_TOO_LARGE, name)
    except Exception:  # noqa: BLE001 - any decoder failure means an unusable file
        skipped.add(SKIP_CORRUPT, name)
    return None


def read_face_source(path: str | os.PathLike, progress: bool = True) -> FaceSet:
    """Read a raw FER-2013 file: the Kaggle folder-layout zip, the CSV, or a zip holding the CSV."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with open(path, "rb") as fh:
            return read_fer_csv(fh, str(path))
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(
            f"{path}: not a readable zip archive ({exc}); replace it with a complete copy "
            "(in the pipeline: dvc repro --force download)"
        ) from None
    with archive:
        names = [e.filename for e in archive.infolist() if not e.is_dir()]
        csvs = [n for n in names if n.lower().endswith(".csv") and not _unsafe(n)]
        if csvs and not any(n.lower().endswith(IMAGE_SUFFIXES) for n in names):
            with archive.open(csvs[0]) as fh:
                return read_fer_csv(fh, f"{path}:{csvs[0]}")
        return _read_folder_layout(archive, path, progress)


def _unsafe(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or ".." in parts or (bool(parts) and ":" in parts[0])


def _read_folder_layout(archive: zipfile.ZipFile, path: Path, progress: bool) -> FaceSet:
    label_of = {name: i for i, name in enumerate(FER2013_EMOTIONS)}
    images, labels, splits = [], [], []
    skipped = Skipped()
    entries = [e for e in archive.infolist() if not e.is_dir()]
    for n, entry in enumerate(entries, 1):
        name = entry.filename
        parts = PurePosixPath(name).parts
        if _unsafe(name):
            skipped.add(SKIP_UNSAFE_PATH, name)
        elif len(parts) < 3 or parts[-3] not in FOLDER_SPLITS:
            skipped.add(SKIP_OUTSIDE_LAYOUT, name)
        elif parts[-2] not in label_of:
            skipped.add(f"unknown emotion folder {parts[-2]!r}", name)
        elif not name.lower().endswith(IMAGE_SUFFIXES):
            skipped.add(SKIP_NOT_IMAGE, name)
        elif entry.file_size > MAX_FILE_BYTES:
            skipped.add(SKIP_TOO_LARGE, name)
        else:
            image = try_decode(archive.read(entry), skipped, name)
            if image is not None:
                images.append(image)
                labels.append(label_of[parts[-2]])
                splits.append(FOLDER_SPLITS[parts[-3]])
        if progress and n % 5000 == 0:
            print(f"  read {n}/{len(entries)} archive entries", flush=True)
    if not images:
        raise DataError(
            f"{path}: no face images in the train/<emotion>/ or test/<emotion>/ layout; set "
            "download.fer2013_archive to a copy of the Kaggle msambare/fer2013 zip (or fer2013.csv)"
        )
    return FaceSet(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int16),
        official_split=np.asarray(splits, dtype=np.int8),
        skipped=skipped,
    )


def read_fer_csv(fh, name: str) -> FaceSet:
    """Parse the challenge's `emotion,pixels,Usage` CSV in bulk (no per-row Python loop)."""
    import pandas as pd  # here, not at the top: the edge install decodes faces without pandas

    try:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{name}: not a readable CSV ({exc})") from None
    frame.columns = [c.strip() for c in frame.columns]
    if not {"emotion", "pixels"} <= set(frame.columns):
        raise DataError(f"{name}: expected the columns emotion,pixels[,Usage]; found {list(frame.columns)}")
    skipped: Counter = Counter()
    label = pd.to_numeric(frame["emotion"].str.strip(), errors="coerce")
    good_label = label.isin(range(len(FER2013_EMOTIONS)))
    usage = frame["Usage"].str.strip() if "Usage" in frame else pd.Series("Training", index=frame.index)
    split = usage.map(CSV_USAGES)
    good_usage = split.notna()
    pixels = frame["pixels"].str.strip()
    good_shape = pixels.str.fullmatch(rf"\d{{1,3}}(?:\s+\d{{1,3}}){{{CSV_PIXELS - 1}}}")
    skipped[SKIP_CSV_LABEL] += int((~good_label).sum())
    skipped[SKIP_CSV_USAGE] += int((good_label & ~good_usage).sum())
    skipped[SKIP_CSV_PIXELS] += int((good_label & good_usage & ~good_shape).sum())
    keep = (good_label & good_usage & good_shape).to_numpy()
    if keep.any():
        joined = " ".join(pixels[keep])
        values = np.fromstring(joined, dtype=np.int32, sep=" ").reshape(-1, FACE_SIZE, FACE_SIZE)
        in_range = values.max(axis=(1, 2)) <= 255
    else:
        values, in_range = np.zeros((0, FACE_SIZE, FACE_SIZE), np.int32), np.zeros(0, bool)
    skipped[SKIP_CSV_PIXELS] += int((~in_range).sum())
    skipped = Skipped({k: v for k, v in skipped.items() if v})  # rows, not files: no names
    if not in_range.any():
        raise DataError(f"{name}: no usable rows (skipped: {dict(skipped)})")
    return FaceSet(
        images=values[in_range].astype(np.uint8),
        labels=label[keep].to_numpy()[in_range].astype(np.int16),
        official_split=split[keep].to_numpy()[in_range].astype(np.int8),
        skipped=skipped,
    )


IGNORED_NAMES = ("readme", ".gitkeep", ".gitignore", ".ds_store", "thumbs.db")


def read_custom_folder(root: str | os.PathLike, classes: tuple[str, ...]) -> tuple[FaceSet, list[str]]:
    """Photos in `root/<class>/...` (any size, RGB/RGBA/grayscale); labels index `classes`.

    Returns the faces and the names of folders that are not a class of the scheme (their
    photos are skipped and counted, so a typo in a folder name is visible, not fatal).
    """
    root = Path(root)
    faces, unknown = FaceSet.empty(), []
    if not root.is_dir():
        return faces, unknown
    images, labels = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        if folder.name not in classes:
            unknown.append(folder.name)
            faces.skipped[SKIP_UNKNOWN_FOLDER.format(folder.name)] += len(files)
            continue
        for file in files:
            if not file.name.lower().endswith(IMAGE_SUFFIXES):
                faces.skipped.add(SKIP_NOT_IMAGE, str(file))
                continue
            image = try_decode(file.read_bytes(), faces.skipped, str(file))
            if image is not None:
                images.append(image)
                labels.append(classes.index(folder.name))
    for file in root.iterdir():
        if file.is_file() and not file.name.lower().startswith(IGNORED_NAMES):
            faces.skipped.add("file not inside a class folder", str(file))
    if images:
        faces.images = np.stack(images)
        faces.labels = np.asarray(labels, np.int16)
        faces.official_split = np.full(len(labels), NO_OFFICIAL_SPLIT, np.int8)
    return faces, unknown


def map_to_classes(faces: FaceSet, label_map: LabelMap, source_classes: tuple[str, ...]) -> FaceSet:
    """Source labels -> indices into `label_map.classes`; emotions mapped to null are dropped."""
    target = label_map.source_to_target_index(source_classes)[faces.labels]
    keep = target >= 0
    return FaceSet(faces.images[keep], target[keep], faces.official_split[keep], faces.skipped)


def unit_labels(fer: FaceSet, custom: FaceSet, label_map: LabelMap) -> tuple[np.ndarray, tuple[str, ...]]:
    """The unit (labels.learned_units) of each face of `concat(map_to_classes(fer, label_map), custom)`,
    numbered over the units that have faces, and those units."""
    to_units = learned_units(label_map, FER2013_EMOTIONS)
    custom_units = np.array([to_units.classes.index(c) for c in label_map.classes], np.int16)
    labels = np.concatenate(
        [map_to_classes(fer, to_units, FER2013_EMOTIONS).labels, custom_units[custom.labels]]
    ).astype(np.int16)
    labels, units, _ = labels_of_nonempty_classes(labels, to_units.classes, "drop", "images", "")
    return labels, units


def concat(*sets: FaceSet) -> FaceSet:
    skipped = Skipped()
    for s in sets:
        skipped.merge(s.skipped)
    return FaceSet(
        np.concatenate([s.images for s in sets]),
        np.concatenate([s.labels for s in sets]).astype(np.int16),
        np.concatenate([s.official_split for s in sets]).astype(np.int8),
        skipped,
    )


def drop_empty_classes(
    faces: FaceSet, classes: tuple[str, ...], empty_classes: str
) -> tuple[FaceSet, tuple[str, ...], list[str]]:
    """Leave out classes with no images (or fail, when `empty_classes` is "error")."""
    labels, final, empty = labels_of_nonempty_classes(
        faces.labels,
        classes,
        empty_classes,
        "images",
        "add photos for it (see README: your own photos) or set map_labels.empty_classes: drop",
    )
    return FaceSet(faces.images, labels, faces.official_split, faces.skipped), final, empty
