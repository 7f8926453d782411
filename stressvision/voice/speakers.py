"""Speaker-independent splitting: no speaker's voice in two of train, val and test.

A model scored on speakers it trained on learns their voices, not their emotions, and
overstates what a user will see on a new person by 10-30 points on EmoDB-sized corpora.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stressvision.errors import DataError, ParamsError
from stressvision.params import Section

STD_FLOOR = 1e-3  # smallest std a standardised or speaker-normalised value is divided by

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SpeakerSplitConfig:
    test_speakers: tuple[str, ...]  # explicit ids, e.g. ("emodb:03", "emodb:08"); empty: drawn by seed
    val_speakers: tuple[str, ...]
    test: float  # share of speakers drawn for test when none are listed
    val: float
    seed: int

    @classmethod
    def from_section(cls, section: Section) -> SpeakerSplitConfig:
        def names(key: str) -> tuple[str, ...]:
            value = section.raw(key)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ParamsError(
                    section.key(key), f'expected a list of speaker ids like ["emodb:03"], got {value!r}'
                )
            return tuple(value)

        config = cls(
            test_speakers=names("test_speakers"),
            val_speakers=names("val_speakers"),
            test=section.float("test", minimum=0.0, maximum=0.9),
            val=section.float("val", minimum=0.0, maximum=0.9),
            seed=section.seed(),
        )
        section.check_no_extra_keys()
        if config.test == 0 and not config.test_speakers:  # nothing to score: voice_evaluate would crash
            raise ParamsError(
                section.key("test"), "is 0 and test_speakers is empty: no speaker would be left to test on"
            )
        overlap = set(config.test_speakers) & set(config.val_speakers)
        if overlap:
            raise ParamsError(section.key("val_speakers"), f"{sorted(overlap)[0]} is also a test speaker")
        return config


def assign_speakers(speakers: Sequence[str], config: SpeakerSplitConfig) -> dict[str, list[str]]:
    """Which speakers go to train, val and test (listed ones first, the rest drawn by seed)."""
    present = sorted(set(speakers))
    for key, listed in (("test_speakers", config.test_speakers), ("val_speakers", config.val_speakers)):
        unknown = [s for s in listed if s not in present]
        if unknown:
            raise ParamsError(
                f"voice_split.{key}",
                f"no clips of speaker {unknown[0]!r}; the data has: {', '.join(present)}",
            )
    rng = np.random.default_rng(config.seed)
    free = [s for s in rng.permutation(present) if s not in config.test_speakers + config.val_speakers]
    n = len(present)
    n_test = 0 if config.test_speakers else (max(1, round(n * config.test)) if config.test > 0 else 0)
    n_val = 0 if config.val_speakers else (max(1, round(n * config.val)) if config.val > 0 else 0)
    if len(free) - n_test - n_val < 1:
        raise DataError(
            f"{n} speakers cannot fill train, val and test without sharing a speaker; "
            "add recordings of more speakers or lower voice_split.test/val"
        )
    test = sorted([*config.test_speakers, *free[:n_test]])
    val = sorted([*config.val_speakers, *free[n_test : n_test + n_val]])
    train = sorted(free[n_test + n_val :])
    return {"train": train, "val": val, "test": test}


def speaker_folds(speakers: Sequence[str], folds: int) -> list[list[str]]:
    """Leave-speakers-out folds: every speaker is a test speaker in exactly one fold."""
    present = sorted(set(speakers))
    if not 2 <= folds <= len(present):
        raise DataError(f"{folds} folds need between 2 and {len(present)} (the speakers) folds")
    return [present[i::folds] for i in range(folds)]


def per_speaker_accuracy(labels: np.ndarray, predicted: np.ndarray, speakers: np.ndarray) -> dict[str, dict]:
    """Accuracy and clip count for each speaker: a mean can hide one speaker the model fails."""
    return {
        speaker: {
            "accuracy": float((predicted[speakers == speaker] == labels[speakers == speaker]).mean()),
            "n": int((speakers == speaker).sum()),
        }
        for speaker in sorted(set(speakers.tolist()))
    }


MIN_SPEAKER_CLIPS = 5  # clips of a speaker below which their mean and std say little


@dataclass(frozen=True)
class SpeakerStatistics:
    """One speaker's feature mean and std, from their clips (no labels): what
    `voice_features.speaker_norm` scales that speaker's features by."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray, speaker: str) -> SpeakerStatistics:
        if len(features) < MIN_SPEAKER_CLIPS:
            raise DataError(
                f"{speaker}: {len(features)} clip(s); a speaker-normalised model needs >= "
                f"{MIN_SPEAKER_CLIPS} clips of each speaker: give more recordings of them"
            )
        return cls(features.mean(axis=0), np.maximum(features.std(axis=0), STD_FLOOR))

    def normalize(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.std).astype(np.float32)


def too_few_clips(speakers: np.ndarray) -> np.ndarray:
    """Which clips belong to a speaker with under MIN_SPEAKER_CLIPS clips: a speaker-normalised
    model cannot enrol that speaker, so a scorer skips those clips instead of all of them."""
    _, index, counts = np.unique(speakers, return_inverse=True, return_counts=True)
    return counts[index.reshape(-1)] < MIN_SPEAKER_CLIPS


def speaker_normalize(features: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Each speaker's clip features scaled by that speaker's own mean and std."""
    out = np.empty(features.shape, np.float32)
    for speaker in sorted(set(speakers.tolist())):
        rows = speakers == speaker
        out[rows] = SpeakerStatistics.of(features[rows], f"speaker {speaker}").normalize(features[rows])
    return out
