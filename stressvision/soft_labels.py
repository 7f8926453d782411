"""Teachers' probabilities stored per face (`train.distill.soft_labels`).

A large teacher (or an ensemble) is run once, where it is cheap (a GPU, see
scripts/train_on_accelerator.py `--soft-labels`), and its probabilities are kept with a key of
each face's pixels. The `train` stage then distils from the file on a CPU without running the
teacher: each training face finds its row by key, wherever split and balance moved it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from stressvision.errors import DataError
from stressvision.fileio import load_arrays, save_arrays
from stressvision.labels import LabelMap, merge_matrix


def face_keys(images: np.ndarray) -> np.ndarray:
    """A 64-bit key of each face's pixels (blake2b): the same face has the same key however
    the archive was read, split or reordered. uint64, one per face."""
    flat = np.ascontiguousarray(images).reshape(len(images), -1)
    digests = b"".join(hashlib.blake2b(row.tobytes(), digest_size=8).digest() for row in flat)
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


@dataclass(frozen=True)
class SoftLabels:
    """Probabilities over `classes` (the teacher's, e.g. the 7 FER-2013 emotions) per face key."""

    keys: np.ndarray  # uint64, sorted, unique
    probabilities: np.ndarray  # (faces, classes) float32, rows summing to 1
    classes: tuple[str, ...]

    @classmethod
    def from_views(cls, images: np.ndarray, views: list[np.ndarray], classes: tuple[str, ...]) -> SoftLabels:
        """Average `views` ((faces, classes) probabilities: teachers, mirror images) per face of
        `images`; faces with the same pixels keep one row."""
        mean = np.mean([np.asarray(v, np.float32) for v in views], axis=0)
        if mean.shape != (len(images), len(classes)):
            raise DataError(
                f"soft labels: {mean.shape[0]} rows of {mean.shape[1]} probabilities for "
                f"{len(images)} faces and {len(classes)} classes: were they made from this archive?"
            )
        keys, first = np.unique(face_keys(images), return_index=True)
        rows = mean[first]
        return cls(keys, rows / rows.sum(axis=1, keepdims=True), tuple(classes))

    def save(self, path: str | os.PathLike) -> None:
        save_arrays(
            path,
            keys=self.keys,
            probabilities=self.probabilities.astype(np.float16),
            classes=np.array(self.classes),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> SoftLabels:
        try:
            arrays = load_arrays(path)
            keys, probabilities, classes = arrays["keys"], arrays["probabilities"], arrays["classes"]
        except (OSError, ValueError, KeyError) as error:
            raise DataError(
                f"{path}: not a soft-labels file ({error}); make one with scripts/soft_labels.py"
            ) from None
        if keys.dtype != np.uint64 or probabilities.shape != (len(keys), len(classes)):
            raise DataError(
                f"{path}: keys and probabilities do not match; make it again with scripts/soft_labels.py"
            )
        return cls(keys, probabilities.astype(np.float32), tuple(str(c) for c in classes))

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, probabilities) of `keys`; rows of keys not found are zero."""
        at = np.clip(np.searchsorted(self.keys, keys), 0, max(len(self.keys) - 1, 0))
        found = (self.keys[at] == keys) if len(self.keys) else np.zeros(len(keys), bool)
        return found, np.where(found[:, None], self.probabilities[at], 0.0).astype(np.float32)


def learned_targets(
    soft: SoftLabels, keys: np.ndarray, labels: np.ndarray, learned: list[str], mapping: dict[str, str]
) -> tuple[np.ndarray, int]:
    """Distillation targets over the `learned` labels (units or classes) for faces with `keys`.

    A teacher class goes to the learned label of its own name (a unit of map_labels.learn:
    emotions) or else to the class `mapping` sends it to; probability on classes the scheme
    drops is left out and the rest renormalised. Faces the file does not hold (your own photos)
    get their one-hot hard label; none held is an error (a file made from another copy of the
    data, whose faces decode to other pixels). Returns the targets and how many faces the file
    held.
    """
    routes = {name: name if name in learned else mapping.get(name) for name in soft.classes}
    merge = merge_matrix(soft.classes, LabelMap(tuple(learned), routes), learned)
    found, probabilities = soft.lookup(keys)
    summed = probabilities @ merge
    mass = summed.sum(axis=1, keepdims=True)
    found &= mass[:, 0] > 0
    if len(keys) and not found.any():
        raise DataError(
            "none of the training faces is in the soft-labels file: make it from the archive the "
            'pipeline reads (scripts/soft_labels.py --archive), or set train.distill.soft_labels to ""'
        )
    hard = np.eye(len(learned), dtype=np.float32)[labels]
    targets = np.where(found[:, None], summed / np.maximum(mass, 1e-12), hard)
    return targets.astype(np.float32), int(found.sum())
