"""Speech features with TensorFlow's own signal ops (STFT, log-mel, MFCC).

The same extractor runs in the features stage, inside the exported `features.tflite` that an
edge device runs before the classifier, and in tests, so training and deployment can never
compute features differently.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import tensorflow as tf

from stressvision.errors import ParamsError
from stressvision.params import Section
from stressvision.voice.speakers import STD_FLOOR

FEATURE_KINDS = ("functionals", "prosody", "paralinguistic", "logmel", "mfcc", "mfcc_mean")
STATISTICS_KINDS = ("functionals", "prosody", "paralinguistic")  # statistics over the clip's frames
CLIP_KINDS = (*STATISTICS_KINDS, "mfcc_mean")  # one vector per clip, no time axis
ACTIVE_RANGE = 7.0  # natural-log power units (about 30 dB): frames this far below the loudest are pauses
PITCH_FRAME_MS = 40.0  # two periods of the lowest pitch searched
PITCH_RANGE_HZ = (60.0, 500.0)
VOICED_MIN = 0.45  # normalised autocorrelation peak above which a frame counts as voiced


@dataclass(frozen=True)
class FeatureConfig:
    """How a clip becomes features. `kind`: functionals (statistics of log-mel and MFCC over
    the clip's voiced frames: mean, std, min, max and two of the deltas, a flat vector),
    prosody (functionals plus slope, skewness and kurtosis, and statistics of pitch,
    voicing, loudness, spectral centroid, high/low band ratio and zero crossings),
    paralinguistic (prosody plus 26 functionals of 62 smoothed frame descriptors and of their
    deltas, after the ComParE challenge set), logmel
    (frames x n_mels), mfcc (frames x n_mfcc), or mfcc_mean (the LSTM baseline's 40 MFCCs
    averaged over time, shaped (40, 1)).

    `speaker_norm`: every speaker's clip features are scaled by that speaker's own mean and
    std (no labels needed: a new user enrols with a few recordings), instead of the train
    split's (`standardize`). It removes the voice (pitch, timbre, loudness) from the features
    and leaves how the voice departs from its own habit, which is what emotion changes."""

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
    speaker_norm: bool = False  # clip vectors only: scale by each speaker's own mean and std instead

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
            speaker_norm=section.bool("speaker_norm"),
        )
        section.check_no_extra_keys()
        if config.speaker_norm and config.standardize:
            raise ParamsError(
                section.key("speaker_norm"), "replaces standardize: set voice_features.standardize to false"
            )
        if config.speaker_norm and config.kind not in STATISTICS_KINDS:
            raise ParamsError(
                section.key("speaker_norm"),
                f"needs kind {', '.join(STATISTICS_KINDS[:-1])} or {STATISTICS_KINDS[-1]}, not {config.kind}",
            )
        if config.fmax > sample_rate / 2:
            raise ParamsError(
                section.key("fmax"),
                f"must be <= voice_map_labels.sample_rate/2 ({sample_rate / 2:g}), got {config.fmax:g}",
            )
        if config.fmin >= config.fmax:
            raise ParamsError(section.key("fmin"), f"must be < fmax ({config.fmax:g}), got {config.fmin:g}")
        if config.cmvn and config.kind in CLIP_KINDS:
            raise ParamsError(
                section.key("cmvn"), f"must be false for {config.kind} (it would zero the means)"
            )
        bin_hz = sample_rate / config.fft_length
        bins = math.floor(config.fmax / bin_hz) - math.ceil(config.fmin / bin_hz) + 1
        if config.n_mels > bins:  # bands without a bin: constant features (n_mels 10**12: a crash)
            raise ParamsError(
                section.key("n_mels"),
                f"must be <= {bins}, the FFT bins from fmin to fmax ({config.fmin:g}-{config.fmax:g} Hz) "
                f"of a {config.frame_ms:g} ms frame at {sample_rate} Hz, got {config.n_mels}",
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
        if self.kind == "prosody":
            spectral = len(FUNCTIONALS + SHAPE_FUNCTIONALS) * (self.n_mels + self.n_mfcc)
            return (spectral + len(PROSODY_CONTOURS) * len(CONTOUR_FUNCTIONALS) + len(PROSODY_RATES),)
        if self.kind == "paralinguistic":
            extended = 2 * len(EXTENDED_FUNCTIONALS) * len(frame_descriptor_names())
            return (FeatureConfig(**{**asdict(self), "kind": "prosody"}).shape[0] + extended,)
        return (self.num_frames, self.n_mfcc if self.kind == "mfcc" else self.n_mels)


def dct_matrix(n_mels: int, n_mfcc: int):
    """The DCT-II of tf.signal.mfccs_from_log_mel_spectrograms as a (n_mels, n_mfcc) matrix.

    A matmul instead of tf.signal.dct, whose complex slicing has no TFLite builtin.
    """
    n = np.arange(n_mels)[:, None]
    k = np.arange(n_mfcc)[None, :]
    return (2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels)) / np.sqrt(2.0 * n_mels)).astype(np.float32)


FUNCTIONALS = ("mean", "std", "min", "max", "delta_std", "delta_abs_mean")
SHAPE_FUNCTIONALS = ("slope", "skewness", "kurtosis")
CONTOUR_FUNCTIONALS = ("mean", "std", "min", "max") + SHAPE_FUNCTIONALS
PROSODY_CONTOURS = (
    "pitch_semitones",
    "voicing",
    "log_energy",
    "centroid_khz",
    "high_low_ratio",
    "zero_crossings",
)
PROSODY_RATES = ("voiced_share", "active_share")


def active_frames(log_energy: tf.Tensor) -> tf.Tensor:
    """1 for (B, T) frames within ACTIVE_RANGE of the clip's loudest frame, else 0: pauses and
    leading or trailing silence (padding) would drag every statistic towards silence,
    differently for fast and slow talkers. The loudest frame always counts."""
    return tf.cast(
        log_energy > tf.reduce_max(log_energy, axis=1, keepdims=True) - ACTIVE_RANGE, log_energy.dtype
    )


def masked_statistics(frames: tf.Tensor, weight: tf.Tensor, names: tuple[str, ...]) -> tf.Tensor:
    """Named statistics of (B, T, D) frames over the frames where weight (B, T, 1) is 1.

    `slope` is the least-squares trend per frame (rising or falling pitch, fading voice).
    A clip with no such frames gets zeros, not NaNs. Written with ops that have TFLite
    builtins (masks, not boolean gathers).
    """
    count = tf.reduce_sum(weight, axis=1)
    safe = tf.maximum(count, 1.0)
    mean = tf.reduce_sum(frames * weight, axis=1) / safe
    centred = (frames - mean[:, None]) * weight
    std = tf.sqrt(tf.reduce_sum(tf.square(centred), axis=1) / safe + 1e-8)
    time = tf.range(tf.shape(frames)[1], dtype=frames.dtype)[None, :, None]
    time_centred = (time - tf.reduce_sum(time * weight, axis=1, keepdims=True) / safe[:, None]) * weight
    z = centred / std[:, None]
    any_frame = tf.cast(count > 0, frames.dtype)
    big = 1e4 * (1.0 - weight)
    values = {
        "mean": mean,
        "std": std,
        "min": tf.reduce_min(frames + big, axis=1) * any_frame,
        "max": tf.reduce_max(frames - big, axis=1) * any_frame,
        "slope": tf.reduce_sum(time_centred * centred, axis=1)
        / (tf.reduce_sum(tf.square(time_centred), axis=1) + 1e-6),
        "skewness": tf.reduce_sum(z**3, axis=1) / safe,
        "kurtosis": tf.reduce_sum(z**4, axis=1) / safe,
    }
    return tf.concat([values[name] for name in names], axis=-1)


def functionals(frames: tf.Tensor, weight: tf.Tensor, extra: tuple[str, ...] = ()) -> tf.Tensor:
    """FUNCTIONALS, then the `extra` statistics, of (B, T, D) frames over the active frames
    (weight (B, T, 1)) -> (B, (len(FUNCTIONALS) + len(extra)) * D)."""
    depth = frames.shape[-1]
    stats = masked_statistics(frames, weight, FUNCTIONALS[:4] + extra)
    delta = frames[:, 1:] - frames[:, :-1]
    pair = weight[:, 1:] * weight[:, :-1]
    pairs = tf.reduce_sum(pair, axis=1) + 1e-6
    delta_mean = tf.reduce_sum(delta * pair, axis=1) / pairs
    delta_std = tf.sqrt(tf.reduce_sum(tf.square(delta - delta_mean[:, None]) * pair, axis=1) / pairs + 1e-8)
    delta_abs = tf.reduce_sum(tf.abs(delta) * pair, axis=1) / pairs
    return tf.concat([stats[:, : 4 * depth], delta_std, delta_abs, stats[:, 4 * depth :]], axis=-1)


def prosody_contours(config: FeatureConfig, clips: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Per-frame pitch, voicing, loudness and spectral shape of (B, samples) clips.

    Pitch is the lag of the highest normalised autocorrelation in 60-500 Hz over 40 ms
    frames; the autocorrelation is the power spectrum times a cosine matrix (no inverse
    FFT, which TFLite lacks). Returns contours (B, T, 6), active (B, T, 1), voiced (B, T, 1).
    """
    length = round(config.sample_rate * PITCH_FRAME_MS / 1000)
    lags = np.arange(
        int(config.sample_rate / PITCH_RANGE_HZ[1]), int(config.sample_rate / PITCH_RANGE_HZ[0]) + 1
    )
    fft_length = 1 << (length + int(lags[-1]) - 1).bit_length()  # long enough that no lag searched wraps
    frames = tf.signal.frame(clips, length, config.hop_length) * tf.signal.hann_window(length, periodic=True)
    power = tf.square(tf.abs(tf.signal.rfft(frames, [fft_length])))  # (B, T, F)
    bins = np.arange(fft_length // 2 + 1)
    twice = np.where((bins > 0) & (bins < fft_length // 2), 2.0, 1.0)[:, None]  # both halves of the spectrum
    cosines = (twice * np.cos(2 * np.pi * np.outer(bins, lags) / fft_length)).astype(np.float32)
    energy = tf.tensordot(power, tf.constant(twice[:, 0].astype(np.float32)), 1)  # autocorrelation at lag 0
    correlation = tf.tensordot(power, tf.constant(cosines), 1) / (energy[..., None] + 1e-9)
    voicing = tf.reduce_max(correlation, axis=-1)
    period = tf.gather(tf.constant(lags.astype(np.float32)), tf.argmax(correlation, axis=-1))
    semitones = 12.0 * tf.math.log(config.sample_rate / period / 100.0) / np.log(2.0)
    log_energy = tf.math.log(energy + 1e-6)
    active = active_frames(log_energy)
    voiced = active * tf.cast(voicing > VOICED_MIN, clips.dtype)
    hertz = tf.constant((bins * config.sample_rate / fft_length).astype(np.float32))
    share = power / (tf.reduce_sum(power, axis=-1, keepdims=True) + 1e-9)
    centroid = tf.tensordot(share, hertz / 1000.0, 1)
    high = tf.constant((bins * config.sample_rate / fft_length > 1000.0).astype(np.float32))
    high_low = tf.math.log(
        (tf.tensordot(power, high, 1) + 1e-6) / (tf.tensordot(power, 1.0 - high, 1) + 1e-6)
    )
    crossings = tf.reduce_mean(
        tf.cast(tf.not_equal(tf.sign(frames[..., 1:]), tf.sign(frames[..., :-1])), clips.dtype), -1
    )
    contours = tf.stack([semitones, voicing, log_energy, centroid, high_low, crossings], axis=-1)
    return contours, active[..., None], voiced[..., None]


def prosody(
    spectral: tf.Tensor, weight: tf.Tensor, contours: tuple[tf.Tensor, tf.Tensor, tf.Tensor]
) -> tf.Tensor:
    """The `prosody` vector: spectral functionals with their shape, then the contours' statistics.

    `contours` are prosody_contours' output. Pitch statistics count voiced frames only; the
    other contours count active frames. Order: FUNCTIONALS then SHAPE_FUNCTIONALS per spectral
    value, CONTOUR_FUNCTIONALS of pitch, each of CONTOUR_FUNCTIONALS over the other five
    contours, PROSODY_RATES.
    """
    values, frame_active, voiced = contours
    pitch = masked_statistics(values[..., :1], voiced, CONTOUR_FUNCTIONALS)
    rest = masked_statistics(values[..., 1:], frame_active, CONTOUR_FUNCTIONALS)
    rates = tf.stack(
        [
            tf.reduce_sum(voiced, axis=[1, 2]) / tf.maximum(tf.reduce_sum(frame_active, axis=[1, 2]), 1.0),
            tf.reduce_mean(frame_active, axis=[1, 2]),
        ],
        axis=-1,
    )
    return tf.concat([functionals(spectral, weight, SHAPE_FUNCTIONALS), pitch, rest, rates], axis=-1)


# The `paralinguistic` kind adds what made the ComParE 2016 set (Schuller et al., openSMILE)
# stronger than `prosody` on EmoDB: many descriptors per frame, lightly smoothed, and many
# functionals of each and of its delta (order statistics, ranges, trend, time above levels,
# positions), left to a strongly regularised linear model to weigh.
AUDITORY_BANDS = 26  # log-mel bands, as ComParE's 26-band auditory spectrum
DESCRIPTOR_MFCCS = 14  # MFCC 1-14, as ComParE
SPECTRAL_DESCRIPTORS = (
    "centroid_khz",
    "spread_khz",
    "skewness",
    "kurtosis",
    "entropy",
    "rolloff25_khz",
    "rolloff50_khz",
    "rolloff75_khz",
    "rolloff90_khz",
    "flux",
    "slope",
    "band_250_650hz",
    "band_1_4khz",
    "flatness",
    "loudness",
)
VOICE_DESCRIPTORS = (*PROSODY_CONTOURS[1:], "harmonicity", "voiced_pitch")
EXTENDED_FUNCTIONALS = (
    "mean",
    "std",
    "skewness",
    "kurtosis",
    "percentile1",
    "quartile1",
    "median",
    "quartile3",
    "percentile99",
    "iqr1_2",
    "iqr2_3",
    "iqr1_3",
    "range1_99",
    "range",
    "slope",
    "slope_error",
    "up_25",
    "up_50",
    "up_75",
    "up_90",
    "rising_share",
    "max_position",
    "min_position",
    "rms",
    "positive_mean",
    "centroid",
)


def frame_descriptor_names() -> tuple[str, ...]:
    """Names of the paralinguistic frame descriptors, in their order."""
    bands = tuple(f"band{i}" for i in range(AUDITORY_BANDS))
    mfccs = tuple(f"mfcc{i}" for i in range(1, DESCRIPTOR_MFCCS + 1))
    return bands + mfccs + SPECTRAL_DESCRIPTORS + VOICE_DESCRIPTORS


def spectral_descriptors(config: FeatureConfig, power: tf.Tensor, band_power: tf.Tensor) -> tf.Tensor:
    """SPECTRAL_DESCRIPTORS of (B, T, F) power spectra -> (B, T, 15): the shape of each
    frame's spectrum as a distribution over frequency (moments, entropy, roll-off points),
    its change from the previous frame (flux), its tilt, two band energies and the loudness
    of its auditory bands (`band_power`, (B, T, AUDITORY_BANDS))."""
    hz = (np.arange(power.shape[-1]) * config.sample_rate / config.fft_length).astype(np.float32)
    khz = tf.constant(hz / 1000.0)
    share = power / (tf.reduce_sum(power, -1, keepdims=True) + 1e-9)
    centroid = tf.tensordot(share, khz, 1)
    offset = khz - centroid[..., None]
    variance = tf.reduce_sum(share * tf.square(offset), -1) + 1e-9
    spread = tf.sqrt(variance)
    skewness = tf.reduce_sum(share * offset**3, -1) / (spread * variance)
    kurtosis = tf.reduce_sum(share * offset**4, -1) / tf.square(variance)
    entropy = -tf.reduce_sum(share * tf.math.log(share + 1e-12), -1)
    cumulative = tf.math.cumsum(share, axis=-1)
    bin_khz = config.sample_rate / config.fft_length / 1000.0
    rolloffs = [rolloff(cumulative, q) * bin_khz for q in (0.25, 0.5, 0.75, 0.9)]
    magnitude = tf.sqrt(power)
    shape = magnitude / (tf.reduce_sum(magnitude, -1, keepdims=True) + 1e-9)
    flux = tf.reduce_sum(tf.square(shape[:, 1:] - shape[:, :-1]), -1)
    flux = tf.concat([flux[:, :1], flux], axis=1)  # the first frame repeats the second's
    centred_khz = hz / 1000.0 - hz.mean() / 1000.0
    tilt = tf.tensordot(tf.math.log(magnitude + 1e-6), tf.constant(centred_khz / np.sum(centred_khz**2)), 1)

    def band(low: float, high: float) -> tf.Tensor:
        inside = tf.constant(((hz >= low) & (hz < high)).astype(np.float32))
        return tf.math.log(tf.tensordot(power, inside, 1) + 1e-6)

    flatness = tf.reduce_mean(tf.math.log(power + 1e-9), -1) - tf.math.log(tf.reduce_mean(power, -1) + 1e-9)
    loudness = tf.reduce_sum(tf.pow(band_power + 1e-9, 0.3), -1)  # Stevens' power law per band
    return tf.stack(
        [
            centroid,
            spread,
            skewness,
            kurtosis,
            entropy,
            *rolloffs,
            flux,
            tilt,
            band(250, 650),
            band(1000, 4000),
            flatness,
            loudness,
        ],
        axis=-1,
    )


def rolloff(cumulative: tf.Tensor, share: float) -> tf.Tensor:
    """The (fractional) bin below which `share` of the power lies, interpolated linearly inside
    the bin that crosses it: continuous in the spectrum, so TF and TFLite rounding agree."""
    below = tf.cast(cumulative < share, cumulative.dtype)
    before = tf.reduce_max(cumulative * below, -1)  # the cumulative share up to the crossing bin
    at = tf.reduce_min(cumulative + 2.0 * below, -1)  # ... and through it
    return tf.reduce_sum(below, -1) + (share - before) / (at - before + 1e-9)


def smooth3(frames: tf.Tensor) -> tf.Tensor:
    """Three-frame moving average along time (edges repeated), as ComParE smooths its descriptors."""
    padded = tf.concat([frames[:, :1], frames, frames[:, -1:]], axis=1)
    return (padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]) / 3.0


def regression_delta(frames: tf.Tensor, reach: int = 2) -> tf.Tensor:
    """The slope of a least-squares line over +-reach frames, per frame (edges repeated)."""
    length = frames.shape[1]
    padded = tf.concat([frames[:, :1]] * reach + [frames] + [frames[:, -1:]] * reach, axis=1)
    steps = range(1, reach + 1)
    numerator = sum(
        k * (padded[:, reach + k : reach + k + length] - padded[:, reach - k : reach - k + length])
        for k in steps
    )
    return numerator / (2.0 * sum(k * k for k in steps))


def extended_functionals(frames: tf.Tensor) -> tf.Tensor:
    """EXTENDED_FUNCTIONALS of (B, T, D) frames over all T frames -> (B, 26 * D), functional-major.

    Percentiles from a sort (TFLite TopK); positions and times are shares of the clip.
    """
    length, depth = frames.shape[1], frames.shape[-1]
    time = np.linspace(0.0, 1.0, length).astype(np.float32)[None, :, None]
    every_frame = tf.ones_like(frames[..., :1])
    moments = masked_statistics(frames, every_frame, ("mean", "std", "skewness", "kurtosis", "slope"))
    mean, std, skewness, kurtosis, slope_per_frame = (
        moments[:, i * depth : (i + 1) * depth] for i in range(5)
    )
    centred = frames - mean[:, None]
    ordered = tf.sort(frames, axis=1)

    def percentile(q: float) -> tf.Tensor:
        position = q * (length - 1)
        low = int(np.floor(position))
        high, part = min(low + 1, length - 1), position - low
        return ordered[:, low] * (1.0 - part) + ordered[:, high] * part

    p1, q1, median, q3, p99 = (percentile(q) for q in (0.01, 0.25, 0.5, 0.75, 0.99))
    low, high = ordered[:, 0], ordered[:, -1]
    time_centred = time - time.mean()
    slope = slope_per_frame * (length - 1)  # per clip: time runs from 0 to 1
    slope_error = tf.reduce_mean(tf.square(centred - slope[:, None] * time_centred), 1)
    span = high - low + 1e-8
    # values within float noise of a level count as on it, not above or below: the TFLite
    # extractor rounds differently, and a contour that sits on a level (an unvoiced stretch
    # of the pitch delta at 0, a roll-off bin) must not flip between above and below
    noise = (1e-3 * span + 1e-5)[:, None]
    above = [
        tf.reduce_mean(tf.cast(frames > (low + q * span)[:, None] + noise, frames.dtype), 1)
        for q in (0.25, 0.5, 0.75, 0.9)
    ]
    rising = tf.reduce_mean(tf.cast(frames[:, 1:] > frames[:, :-1] + noise, frames.dtype), 1)
    last = float(length - 1)
    max_position = (
        tf.cast(tf.argmax(tf.cast(frames >= high[:, None] - noise, frames.dtype), 1), frames.dtype) / last
    )
    min_position = (
        tf.cast(tf.argmax(tf.cast(frames <= low[:, None] + noise, frames.dtype), 1), frames.dtype) / last
    )
    positive = tf.cast(frames > noise, frames.dtype)
    size = tf.abs(frames)
    values = [
        mean,
        std,
        skewness,
        kurtosis,
        p1,
        q1,
        median,
        q3,
        p99,
        median - q1,
        q3 - median,
        q3 - q1,
        p99 - p1,
        high - low,
        slope,
        slope_error,
        *above,
        rising,
        max_position,
        min_position,
        tf.sqrt(tf.reduce_mean(tf.square(frames), 1)),
        tf.reduce_sum(frames * positive, 1) / (tf.reduce_sum(positive, 1) + 1e-6),
        tf.reduce_sum(time * size, 1) / (tf.reduce_sum(size, 1) + 1e-8),
    ]
    return tf.concat(values, axis=-1)


def paralinguistic(
    config: FeatureConfig,
    power: tf.Tensor,
    logmel: tf.Tensor,
    contours: tuple[tf.Tensor, tf.Tensor, tf.Tensor],
) -> tf.Tensor:
    """EXTENDED_FUNCTIONALS of the smoothed frame descriptors, then of their deltas.

    `power` (B, T, F) and `logmel` (B, T, n_mels) are of the clip's analysis frames,
    `contours` prosody_contours' output (40 ms frames, the same hop: one frame fewer).
    """
    values, _, voiced = contours
    length = min(power.shape[1], values.shape[1])
    mel = tf.signal.linear_to_mel_weight_matrix(
        AUDITORY_BANDS, power.shape[-1], config.sample_rate, config.fmin, config.fmax
    )
    band_power = tf.tensordot(power, mel, 1)
    mfccs = tf.tensordot(logmel, tf.constant(dct_matrix(config.n_mels, DESCRIPTOR_MFCCS + 1)[:, 1:]), 1)
    voicing = tf.clip_by_value(values[..., 1], 0.0, 1.0)
    harmonicity = tf.math.log((voicing + 1e-3) / (1.0 - voicing + 1e-3))  # HNR from the correlation peak
    voiced_pitch = values[..., 0] * voiced[..., 0]  # 0 where unvoiced, as ComParE's F0
    voice = tf.concat([values[..., 1:], harmonicity[..., None], voiced_pitch[..., None]], axis=-1)
    descriptors = smooth3(
        tf.concat(
            [
                tf.math.log(band_power[:, :length] + 1e-6),
                mfccs[:, :length],
                spectral_descriptors(config, power, band_power)[:, :length],
                voice[:, :length],
            ],
            axis=-1,
        )
    )
    return tf.concat(
        [extended_functionals(descriptors), extended_functionals(regression_delta(descriptors))], axis=-1
    )


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
            # floored: a value constant over the train clips must not turn float noise into +-1
            self.scale = tf.constant(1.0 / np.maximum(np.asarray(statistics["std"], np.float32), STD_FLOOR))
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
        power = tf.square(tf.abs(tf.signal.rfft(frames, [c.fft_length])))
        logmel = tf.math.log(tf.tensordot(power, self.mel_matrix, 1) + 1e-6)
        if c.kind in STATISTICS_KINDS:
            spectral = tf.concat([logmel, tf.tensordot(logmel, self.dct_matrix, 1)], -1)
            weight = active_frames(tf.reduce_logsumexp(logmel, axis=-1))[..., None]
            if c.kind == "functionals":
                return functionals(spectral, weight)
            contours = prosody_contours(c, clips)
            vector = prosody(spectral, weight, contours)
            if c.kind == "paralinguistic":
                vector = tf.concat([vector, paralinguistic(c, power, logmel, contours)], axis=-1)
            return vector
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
