"""Balancing the train split: oversampling, augmented copies or undersampling."""

from __future__ import annotations

import numpy as np

from stressvision.augment import AugmentConfig, build_augmenter

BALANCE_METHODS = ("none", "oversample", "augment", "undersample")
MAX_PER_CLASS = 100_000  # target_per_class: 14x FER-2013's largest class (10**9: out of memory, late)


def balance_indices(labels: np.ndarray, method: str, target_per_class: int | None, seed: int):
    """Indices of the balanced train set and, for `augment`, which of them are to be augmented.

    Returns (indices, augment_mask): every index refers to the unbalanced train set; rows
    with augment_mask True are extra copies that get a random augmentation.
    """
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels)
    present = np.flatnonzero(counts)
    chosen, augmented = [], []
    if method == "none":
        return np.arange(len(labels)), np.zeros(len(labels), dtype=bool)
    goal = {
        "oversample": counts.max(),
        "undersample": counts[present].min(),
        "augment": target_per_class or counts.max(),
    }[method]
    for cls in present:
        idx = np.flatnonzero(labels == cls)
        if method == "undersample" or len(idx) >= goal:
            take = rng.permutation(idx)[:goal] if method == "undersample" else idx
            chosen.append(take)
            augmented.append(np.zeros(len(take), dtype=bool))
        else:
            extra = rng.choice(idx, size=goal - len(idx), replace=True)
            chosen.append(np.concatenate([idx, extra]))
            augmented.append(np.r_[np.zeros(len(idx), bool), np.full(len(extra), method == "augment")])
    order = np.concatenate(chosen)
    return order, np.concatenate(augmented)


def balance_train_set(
    images: np.ndarray,
    labels: np.ndarray,
    method: str,
    target_per_class: int | None,
    seed: int,
    augmentation: AugmentConfig,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Return the balanced images, the train-set index of each (to carry any per-face array
    along) and how many of them are augmented copies."""
    order, augment_mask = balance_indices(labels, method, target_per_class, seed)
    out_images = images[order].copy()
    todo = np.flatnonzero(augment_mask)
    if len(todo):
        augment = build_augmenter(augmentation, seed)
        for start in range(0, len(todo), batch_size):
            rows = todo[start : start + batch_size]
            batch = out_images[rows][..., None].astype(np.float32)
            out_images[rows] = np.round(np.asarray(augment(batch))[..., 0]).astype(np.uint8)
    return out_images, order, int(len(todo))
