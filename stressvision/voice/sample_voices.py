"""A built-in synthetic speech-emotion corpus, so the voice branch runs offline in minutes.

Each clip is a run of synthetic voiced syllables: a harmonic glottal source whose pitch
contour, loudness, speaking rate, jitter and spectral tilt follow the emotion (the prosodic
cues listeners use), shaped by the vowel formants of a random speaker, plus breath noise.
Clips are written in the EmoDB naming, so the sample exercises the real corpus reader.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stressvision.fileio import atomic_path
from stressvision.voice.audio import encode_wav
from stressvision.voice.corpora import EMODB_EMOTIONS

_ZIP_DATE = (2026, 1, 1, 0, 0, 0)  # fixed, so one seed always gives the same archive bytes
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))


@dataclass(frozen=True)
class Prosody:
    pitch: float  # times the speaker's base pitch
    pitch_range: float  # semitones of pitch movement within a syllable
    rate: float  # syllables per second
    loudness: float  # peak amplitude
    tilt: float  # spectral slope of the voice source (higher: darker, softer voice)
    jitter: float  # random pitch wobble, fraction of f0


PROSODY = {
    "angry": Prosody(1.30, 5.0, 5.5, 0.85, 0.9, 0.010),
    "happy": Prosody(1.25, 8.0, 5.0, 0.65, 1.2, 0.008),
    "fear": Prosody(1.45, 3.0, 6.2, 0.50, 1.4, 0.030),
    "sad": Prosody(0.90, 1.5, 3.0, 0.30, 2.0, 0.006),
    "boredom": Prosody(0.85, 0.7, 3.4, 0.35, 1.8, 0.004),
    "neutral": Prosody(1.00, 2.5, 4.3, 0.50, 1.5, 0.005),
    "disgust": Prosody(0.95, 4.0, 3.6, 0.55, 1.3, 0.020),
}


@dataclass(frozen=True)
class Speaker:
    base_pitch: float  # Hz
    formant_scale: float  # vocal tract length: >1 raises every formant


def random_speaker(rng: np.random.Generator) -> Speaker:
    if rng.random() < 0.5:
        return Speaker(float(rng.uniform(95, 140)), float(rng.uniform(0.88, 1.0)))
    return Speaker(float(rng.uniform(175, 240)), float(rng.uniform(1.05, 1.18)))


def synthesize_clip(
    rng: np.random.Generator, emotion: str, speaker: Speaker, sample_rate: int, seconds: float
) -> np.ndarray:
    """One utterance, float32 in [-1, 1]."""
    p = PROSODY[emotion]
    n = round(sample_rate * seconds)
    rate = p.rate * rng.uniform(0.85, 1.15)
    f0 = np.full(n, speaker.base_pitch * p.pitch * rng.uniform(0.93, 1.07))
    envelope = np.zeros(n)
    formants = np.zeros((n, 3))
    start = rng.uniform(0.0, 0.25)
    while start < seconds - 0.1:
        length = min(rng.uniform(0.55, 0.85) / rate, seconds - start)
        i0, i1 = int(start * sample_rate), int((start + length) * sample_rate)
        u = np.linspace(0, 1, i1 - i0)
        envelope[i0:i1] = np.sin(np.pi * u) ** 0.7 * rng.uniform(0.7, 1.0)
        # A rise-fall pitch gesture per syllable; its size is the emotion's pitch range.
        semitones = (
            p.pitch_range * rng.uniform(0.5, 1.0) * np.sin(np.pi * u) * rng.choice([-1, 1], p=[0.3, 0.7])
        )
        f0[i0:i1] *= 2 ** (semitones / 12)
        formants[i0:i1] = np.array(VOWELS[rng.integers(len(VOWELS))]) * speaker.formant_scale
        start += length + rng.uniform(0.08, 0.35) / rate * 2
    f0 *= 1 + p.jitter * rng.standard_normal(n).cumsum() / np.sqrt(np.arange(1, n + 1))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voice = np.zeros(n)
    for k in range(1, int(sample_rate / 2 / f0.min())):
        freq = k * f0
        audible = freq < sample_rate / 2
        gain = k ** (-p.tilt) * sum(
            1.0 / (1.0 + ((freq - formants[:, j]) / (60.0 + 0.1 * formants[:, j])) ** 2) for j in range(3)
        )
        voice += np.where(audible, gain, 0.0) * np.sin(k * phase)
    voice *= envelope
    voice /= np.abs(voice).max() + 1e-9
    noise = rng.standard_normal(n) * rng.uniform(0.005, 0.02)
    return np.clip(p.loudness * rng.uniform(0.8, 1.2) * voice + noise, -1, 1).astype(np.float32) * 0.95


def write_sample_corpus(
    path: str | os.PathLike,
    speakers: int,
    clips_per_emotion: int,
    seed: int,
    sample_rate: int = 16000,
    seconds: float = 2.0,
    progress: bool = True,
) -> Path:
    """Write the synthetic corpus as a zip in the EmoDB layout (`wav/<spk><text><E><v>.wav`)."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for s in range(speakers):
            speaker = random_speaker(np.random.default_rng([seed, s]))
            for letter, emotion in EMODB_EMOTIONS.items():
                rng = np.random.default_rng([seed, s, ord(letter)])
                for i in range(clips_per_emotion):
                    clip = synthesize_clip(rng, emotion, speaker, sample_rate, seconds)
                    name = f"wav/{s + 1:02d}a{i + 1:02d}{letter}a.wav"
                    archive.writestr(zipfile.ZipInfo(name, _ZIP_DATE), encode_wav(clip, sample_rate))
            if progress:
                print(
                    f"  sample speaker {s + 1:02d}: {clips_per_emotion} clips per emotion",
                    flush=True,
                )
    return Path(path)
