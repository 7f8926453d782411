"""Speech features with TensorFlow's own signal ops (STFT, log-mel, MFCC).

The same extractor runs in the features stage, inside the exported `features.tflite` that an
edge device runs before the classifier, and in tests, so training and deployment can never
compute features differently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import tensorflow as tf

from stressvision.errors import ParamsError
from stressvision.params import Section

FEATURE_KINDS = ("functionals", "logmel", "mfcc", "mfcc_mean")
ACTIVE_RANGE = 7.0  # natural-log power units (about 30 dB): frames this far below the loudest are pauses


@dataclass(frozen=True)
class FeatureConfig:
    """How a clip becomes features. `kind`: functionals (statistics of log-mel and MFCC over
    the clip's voiced frames: mean, std, min, max and two of the deltas, a flat vector),
    logmel (frames x n_mels), mfcc (frames x n_mfcc), or mfcc_mean (the LSTM baseline's 40
    MFCCs averaged over time, shaped (40, 1))."""

    kind: str = "logmel"
    sample_rate: int = 16000
    clip_seconds: float = 2.0
    frame_ms: float = 25.0
    hop_ms: float = 10.0
    n_mels: int = 64
    n_mfcc: int = 40
    fmin: float = 20.0
    fmax: float = 8000.0
    cmvn: bool = True  # sequences only: normalise each band over the utterance's time axis
    standardize: bool = True  # scale each feature by the train split's mean and std

    @classmethod
    def from_section(cls, section: Section, sample_rate: int, clip_seconds: float) -> FeatureConfig:
        config = cls(
            kind=section.choice("kind", FEATURE_KINDS),
            sample_rate=sample_rate,
            clip_seconds=clip_seconds,
            frame_ms=section.float("frame_ms", minimum=5.0, maximum=200.0),
            hop_ms=section.float("hop_ms", minimum=1.0, maximum=100.0),
            n_mels=section.int("n_mels", minimum=8),
            n_mfcc=section.int("n_mfcc", minimum=1),
            fmin=section.float("fmin", minimum=0.0),
            fmax=section.float("fmax", minimum=1.0),
            cmvn=section.bool("cmvn"),
            standardize=section.bool("standardize"),
        )
        section.check_no_extra_keys()
        if config.fmax > sample_rate / 2 or config.fmin >= config.fmax:
            raise ParamsError(
                section.key("fmax"),
                f"need fmin < fmax <= sample_rate/2 ({sample_rate / 2:g}), got {config.fmax:g}",
            )
        if config.cmvn and config.kind in ("mfcc_mean", "functionals"):
            raise ParamsError(
                section.key("cmvn"), f"must be false for {config.kind} (it would zero the means)"
            )
        if config.n_mfcc > config.n_mels:
            raise ParamsError(section.key("n_mfcc"), f"must be <= n_mels ({config.n_mels})")
        return config

    @property
    def clip_samples(self) -> int:
        return round(self.sample_rate * self.clip_seconds)

    @property
    def frame_length(self) -> int:
        return round(self.sample_rate * self.frame_ms / 1000)

    @property
    def hop_length(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def fft_length(self) -> int:
        return 1 << (self.frame_length - 1).bit_length()

    @property
    def num_frames(self) -> int:
        return 1 + (self.clip_samples - self.frame_length) // self.hop_length

    @property
    def shape(self) -> tuple[int, ...]:
        """Features of one clip, without the batch axis."""
        if self.kind == "mfcc_mean":
            return (self.n_mfcc, 1)
        if self.kind == "functionals":
            return (len(FUNCTIONALS) * (self.n_mels + self.n_mfcc),)
        return (self.num_frames, self.n_mfcc if self.kind == "mfcc" else self.n_mels)


def dct_matrix(n_mels: int, n_mfcc: int):
    """The DCT-II of tf.signal.mfccs_from_log_mel_spectrograms as a (n_mels, n_mfcc) matrix.

    A matmul instead of tf.signal.dct, whose complex slicing has no TFLite builtin.
    """
    n = np.arange(n_mels)[:, None]
    k = np.arange(n_mfcc)[None, :]
    return (2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels)) / np.sqrt(2.0 * n_mels)).astype(np.float32)


FUNCTIONALS = ("mean", "std", "min", "max", "delta_std", "delta_abs_mean")


def functionals(frames: tf.Tensor, logmel: tf.Tensor) -> tf.Tensor:
    """Statistics over the active frames of (B, T, D) features -> (B, len(FUNCTIONALS) * D).

    Pauses and leading or trailing silence (padding) would drag every mean towards silence,
    differently for fast and slow talkers; only frames within ACTIVE_RANGE of the loudest
    frame count. Written with ops that have TFLite builtins (masks, not boolean gathers).
    """
    energy = tf.reduce_logsumexp(logmel, axis=-1)  # (B, T)
    active = tf.cast(energy > tf.reduce_max(energy, axis=1, keepdims=True) - ACTIVE_RANGE, frames.dtype)
    weight = active[..., None]
    count = tf.reduce_sum(weight, axis=1)
    mean = tf.reduce_sum(frames * weight, axis=1) / count
    std = tf.sqrt(tf.reduce_sum(tf.square(frames - mean[:, None]) * weight, axis=1) / count + 1e-8)
    big = 1e4 * (1.0 - weight)
    low = tf.reduce_min(frames + big, axis=1)
    high = tf.reduce_max(frames - big, axis=1)
    delta = frames[:, 1:] - frames[:, :-1]
    pair = weight[:, 1:] * weight[:, :-1]
    pairs = tf.reduce_sum(pair, axis=1) + 1e-6
    delta_mean = tf.reduce_sum(delta * pair, axis=1) / pairs
    delta_std = tf.sqrt(tf.reduce_sum(tf.square(delta - delta_mean[:, None]) * pair, axis=1) / pairs + 1e-8)
    delta_abs = tf.reduce_sum(tf.abs(delta) * pair, axis=1) / pairs
    return tf.concat([mean, std, low, high, delta_std, delta_abs], axis=-1)


def standardization_statistics(config: FeatureConfig, features: np.ndarray) -> dict:
    """Mean and std of raw train features: per value, or per bin across frames for sequences."""
    axes = (0, 1) if config.kind in ("logmel", "mfcc") else (0,)
    return {"mean": features.mean(axis=axes).tolist(), "std": features.std(axis=axes).tolist()}


class FeatureExtractor(tf.Module):
    """Batch of clips (B, clip_samples) float32 in [-1, 1] -> features (B, *config.shape).

    With `standardize`, features are scaled by the train split's mean and std (`statistics`,
    set by the features stage) inside the extractor, not in the classifier: an INT8
    classifier then gets inputs that all span about the same range, which its single input
    scale can represent (raw log-mel means and delta spreads differ a hundredfold).
    """

    def __init__(self, config: FeatureConfig, statistics: dict | None = None):
        super().__init__(name="voice_features")
        self.config = config
        self.statistics = statistics
        if statistics is not None:
            self.mean = tf.constant(np.asarray(statistics["mean"], np.float32))
            self.scale = tf.constant(1.0 / np.maximum(np.asarray(statistics["std"], np.float32), 1e-6))
        self.mel_matrix = tf.constant(
            tf.signal.linear_to_mel_weight_matrix(
                config.n_mels, config.fft_length // 2 + 1, config.sample_rate, config.fmin, config.fmax
            )
        )
        self.window = tf.constant(tf.signal.hann_window(config.frame_length, periodic=True))
        self.dct_matrix = tf.constant(dct_matrix(config.n_mels, config.n_mfcc))

    @classmethod
    def from_meta(cls, meta: dict) -> FeatureExtractor:
        """The extractor a features stage used, from the meta.json it wrote."""
        return cls(FeatureConfig(**meta["features"]), meta.get("statistics"))

    def meta(self) -> dict:
        return {
            "features": asdict(self.config),
            "shape": list(self.config.shape),
            "statistics": self.statistics,
        }

    @tf.function
    def __call__(self, clips: tf.Tensor) -> tf.Tensor:
        features = self.raw_features(clips)
        if self.statistics is not None:
            features = (features - self.mean) * self.scale
        return features

    def raw_features(self, clips: tf.Tensor) -> tf.Tensor:
        c = self.config
        frames = tf.signal.frame(clips, c.frame_length, c.hop_length) * self.window
        # |rfft|: a plain RFFT on windowed frames converts to TFLite builtins (tf.signal.stft's
        # padding path does not), so the exported extractor needs no TensorFlow ops.
        spectrum = tf.abs(tf.signal.rfft(frames, [c.fft_length]))
        mel = tf.tensordot(tf.square(spectrum), self.mel_matrix, 1)
        logmel = tf.math.log(mel + 1e-6)
        if c.kind == "functionals":
            return functionals(tf.concat([logmel, tf.tensordot(logmel, self.dct_matrix, 1)], -1), logmel)
        features = logmel if c.kind == "logmel" else tf.tensordot(logmel, self.dct_matrix, 1)
        if c.kind == "mfcc_mean":
            return tf.reduce_mean(features, axis=1)[..., None]
        if c.cmvn:  # removes the speaker's and the microphone's fixed spectral colour
            mean = tf.reduce_mean(features, axis=1, keepdims=True)
            std = tf.sqrt(tf.reduce_mean(tf.square(features - mean), axis=1, keepdims=True))
            features = (features - mean) / (std + 1e-5)
        return features

    def extract(self, clips: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Features of many clips (numpy in, numpy out), in batches to bound memory."""
        parts = [
            self(tf.constant(clips[i : i + batch_size], tf.float32)).numpy()
            for i in range(0, len(clips), batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, *self.config.shape), np.float32)

    def to_tflite(self) -> bytes:
        """A float32 TFLite model of the extractor for one clip (edge: features, then classifier)."""
        fn = self.__call__.get_concrete_function(tf.TensorSpec([1, self.config.clip_samples], tf.float32))
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], self)
        return converter.convert()
