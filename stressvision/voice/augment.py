"""Waveform augmentation for the extra copies that balance the voice train split."""

from __future__ import annotations

import numpy as np


def augment_clip(clip: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A plausible re-recording: louder or softer, shifted in time by up to 0.2 s, with room noise.

    Pitch and tempo stay untouched: they carry the emotion.
    """
    x = clip.astype(np.float32) / 32768.0
    x = x * rng.uniform(0.6, 1.4)
    shift = int(rng.integers(-sample_rate // 5, sample_rate // 5 + 1))
    x = np.roll(x, shift)
    if shift > 0:
        x[:shift] = 0.0
    elif shift < 0:
        x[shift:] = 0.0
    power = float(np.mean(x**2)) + 1e-12
    snr_db = rng.uniform(20.0, 40.0)
    x = x + rng.standard_normal(len(x)).astype(np.float32) * np.sqrt(power / 10 ** (snr_db / 10))
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
