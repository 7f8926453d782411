"""Waveform augmentation: the extra copies that balance or enlarge the voice train split."""

from __future__ import annotations

import numpy as np

from stressvision.voice.audio import fix_length, resample


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


def change_speed(clip: np.ndarray, factor: float) -> np.ndarray:
    """The int16 clip played `factor` times faster (tempo and pitch together), kept at its length.

    Speed perturbation (Ko et al., 2015): a copy at 0.9 or 1.1 sounds like another speaker
    saying the same thing with the same emotion. Band-limited resampling, then cut or padded
    to the clip's length as clips are (`fix_length`).
    """
    played = resample(clip.astype(np.float32), round(1000 * factor), 1000)
    return np.clip(np.round(fix_length(played, len(clip))), -32768, 32767).astype(np.int16)


def speed_copies(split: dict[str, np.ndarray], speeds: list[float]) -> dict[str, np.ndarray]:
    """The split's clips followed by one copy of every clip at each speed.

    Each copy's speaker is named `<speaker>@x<speed>`, so speaker normalisation scales the
    copies by their own statistics, as a new speaker would be after enrolment.
    """
    parts = [split]
    for speed in speeds:
        copy = {key: values.copy() for key, values in split.items()}
        copy["clips"] = np.stack([change_speed(clip, speed) for clip in split["clips"]])
        copy["speakers"] = np.array([f"{s}@x{speed:g}" for s in split["speakers"]])
        parts.append(copy)
    return {key: np.concatenate([part[key] for part in parts]) for key in split}
