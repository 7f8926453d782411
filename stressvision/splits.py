"""Stratified train/val/test splitting that respects a source's official splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stressvision.datasets import NO_OFFICIAL_SPLIT, OFFICIAL_TEST, OFFICIAL_TRAIN, OFFICIAL_VAL
from stressvision.errors import ParamsError
from stressvision.params import Section

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitConfig:
    ratios: dict[str, float]
    seed: int
    use_official_test: bool

    @classmethod
    def from_section(cls, section: Section) -> SplitConfig:
        ratios = {name: section.float(name, minimum=0.0, maximum=1.0) for name in SPLITS}
        if ratios["train"] == 0:
            raise ParamsError(section.key("train"), "must be above 0")
        total = sum(ratios.values())
        if abs(total - 1.0) > 1e-6:
            raise ParamsError(
                f"{section.key('train')} + {section.key('val')} + {section.key('test')}",
                f"ratios must sum to 1, they sum to {total:g}",
            )
        config = cls(ratios, section.seed(), section.bool("use_official_test"))
        section.check_no_extra_keys()
        return config


def stratified_split(
    idx: np.ndarray, labels: np.ndarray, ratios: dict[str, float], seed: int
) -> dict[str, np.ndarray]:
    """Split `idx` class by class in the given ratios (rounded per class).

    Works for any class size: a class of 3 photos goes entirely to train rather than
    failing, which is what a user adding a handful of photos of a new class expects.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for cls in np.unique(labels[idx]):
        members = rng.permutation(idx[labels[idx] == cls])
        n_test = int(len(members) * ratios["test"] + 0.5)
        n_val = int(len(members) * ratios["val"] + 0.5)
        n_train = len(members) - n_test - n_val
        if n_train < 1:  # keep at least one example to learn from
            n_val, n_train = max(0, n_val + n_train - 1), 1
            n_test = len(members) - n_val - n_train
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    return {
        name: np.concatenate(p).astype(np.int64) if p else np.zeros(0, np.int64) for name, p in parts.items()
    }


def split_indices(
    labels: np.ndarray, official_split: np.ndarray, config: SplitConfig
) -> tuple[dict[str, np.ndarray], str]:
    """Index arrays per split, and a note on how the test set was chosen.

    With `use_official_test` and a source that has an official test split (FER-2013's
    PrivateTest), that split is the test set, so scores compare with the literature; an
    official validation split (the CSV's PublicTest) is the val set, else train and val
    divide the official training images in the train:val ratio; with a val ratio of 0 all of
    them (PublicTest too) train. Faces without an official split (the user's photos) are split
    class by class in the configured ratios.
    """
    all_idx = np.arange(len(labels))
    if not (config.use_official_test and (official_split == OFFICIAL_TEST).any()):
        if config.ratios["test"] == 0:
            raise ParamsError("split.test", "is 0 and split.use_official_test does not apply")
        parts = stratified_split(all_idx, labels, config.ratios, config.seed)
        return {k: np.sort(v) for k, v in parts.items()}, "stratified random split"

    official_train = all_idx[official_split == OFFICIAL_TRAIN]
    official_val = all_idx[official_split == OFFICIAL_VAL]
    none = np.zeros(0, np.int64)
    if config.ratios["val"] == 0:  # no validation: every official training and validation face trains
        parts = {"train": np.concatenate([official_train, official_val]), "val": none, "test": none}
        how = "official test split, no validation split"
    elif len(official_val):
        parts = {"train": official_train, "val": official_val, "test": none}
        how = "official test split, official validation split"
    else:
        train_val = {"train": config.ratios["train"], "val": config.ratios["val"], "test": 0.0}
        scale = train_val["train"] + train_val["val"]
        train_val = {k: v / scale for k, v in train_val.items()}
        parts = stratified_split(official_train, labels, train_val, config.seed)
        how = "official test split"
    parts["test"] = np.concatenate([parts["test"], all_idx[official_split == OFFICIAL_TEST]])
    free = all_idx[official_split == NO_OFFICIAL_SPLIT]
    if len(free):
        extra = stratified_split(free, labels, config.ratios, config.seed + 1)
        parts = {k: np.concatenate([parts[k], extra[k]]) for k in SPLITS}
        how += "; your own photos split in the configured ratios"
    return {k: np.sort(v) for k, v in parts.items()}, how
