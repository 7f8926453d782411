"""Stratified train/val/test splitting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from stressvision.errors import DataError, ParamsError
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
        if ratios["train"] == 0 or ratios["val"] == 0:
            raise ParamsError(section.key("train/val"), "train and val ratios must be above 0")
        total = sum(ratios.values())
        if abs(total - 1.0) > 1e-6:
            raise ParamsError(
                f"{section.key('train')} + {section.key('val')} + {section.key('test')}",
                f"ratios must sum to 1, they sum to {total:g}",
            )
        config = cls(ratios, section.int("seed"), section.bool("use_official_test"))
        section.check_no_extra_keys()
        return config


def split_indices(
    labels: np.ndarray, official_split: np.ndarray, config: SplitConfig
) -> tuple[dict[str, np.ndarray], str]:
    """Index arrays per split, stratified by label, and a note on how the test set was chosen.

    With `use_official_test` and a source that has an official test split (FER-2013's
    PrivateTest), that split is the test set, so scores compare with the literature; train
    and val then divide the official training images in the train:val ratio.
    """
    all_idx = np.arange(len(labels))
    has_official_test = bool((official_split == 1).any())
    val_share = config.ratios["val"] / (config.ratios["train"] + config.ratios["val"])
    try:
        if config.use_official_test and has_official_test:
            test = all_idx[official_split == 1]
            rest = all_idx[official_split == 0]
            how = "official test split"
        else:
            if config.ratios["test"] == 0:
                raise ParamsError("split.test", "is 0 and the source has no official test split")
            rest, test = _stratified(all_idx, labels, round(config.ratios["test"] * len(labels)), config.seed)
            how = "stratified random split"
        train, val = _stratified(rest, labels, round(val_share * len(rest)), config.seed + 1)
    except ValueError as exc:  # sklearn: a class too small to stratify
        raise DataError(f"cannot stratify the split ({exc}); add images to the smallest class") from None
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}, how


def _stratified(idx: np.ndarray, labels: np.ndarray, n_second: int, seed: int):
    """Split `idx` in two, `n_second` of them in the second part, class shares kept."""
    return train_test_split(idx, test_size=n_second, stratify=labels[idx], random_state=seed)
