"""Running an exported voice model with LiteRT alone: clip -> features.tflite -> classifier.

TensorFlow-free, for the edge install: the features model carries the exact tf.signal
pipeline used in training, so nothing is re-implemented on the device.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import numpy as np

from stressvision.errors import DataError
from stressvision.litert import TFLiteClassifier
from stressvision.model_config import CONFIG_NAME, resolve_model
from stressvision.voice.speakers import SpeakerStatistics, speaker_normalize


class VoiceClassifier:
    """A voice classifier exported by voice_quantize: `<variant>.tflite` beside features.tflite
    and model_config.json. Takes mono float clips in [-1, 1] at the config's sample rate.

    A model trained with `speaker_norm` scales features by the speaker's own statistics:
    `enrol` takes them from a few clips of that speaker, and `predict` without them treats
    all the clips it gets as one speaker's (or groups them by `speakers`)."""

    def __init__(self, model_path: str | os.PathLike, num_threads: int | None = None):
        model_path, self.config = resolve_model(model_path)
        if self.config.get("modality") != "voice":
            raise DataError(f"{model_path}: not a voice model (its {CONFIG_NAME} has no modality: voice)")
        self.classes: list[str] = self.config["classes"]
        self.samples: int = self.config["input"]["samples"]
        self.sample_rate: int = self.config["input"]["sample_rate"]
        self.features = TFLiteClassifier(model_path.parent / self.config["features_model"], num_threads)
        self.classifier = TFLiteClassifier(model_path, num_threads)
        self.source_to_class: dict[str, str | None] = dict(self.config.get("source_to_class", {}))
        self.speaker_norm = bool(self.config["features"].get("speaker_norm", False))
        n_out = int(self.classifier.output["shape"][-1])
        if n_out != len(self.classes):
            raise DataError(f"{model_path}: {len(self.classes)} classes in {CONFIG_NAME} for {n_out} outputs")

    def clip_features(self, clip: np.ndarray) -> np.ndarray:
        """Features of one clip (samples,), as the classifier takes them (without batch axis)."""
        if clip.shape != (self.samples,):
            raise DataError(f"expected a clip of {self.samples} samples, got shape {clip.shape}")
        return self.features.invoke_raw(clip[None].astype(np.float32))[0]

    def classify_features(self, features: np.ndarray) -> np.ndarray:
        c = self.classifier
        return c.dequantize_output(c.invoke_raw(c.quantize_input(features[None]))[0])

    def enrol(self, clips: Sequence[np.ndarray], speaker: str = "the speaker") -> SpeakerStatistics | None:
        """The speaker statistics a speaker-normalised model needs, from clips of that speaker
        (None for other models)."""
        if not self.speaker_norm:
            return None
        return SpeakerStatistics.of(np.array([self.clip_features(c) for c in clips]), speaker)

    def classify(self, features: np.ndarray, speaker: SpeakerStatistics | None = None) -> np.ndarray:
        """Class probabilities of one clip's features; `speaker` from `enrol` when the model
        is speaker-normalised."""
        if self.speaker_norm:
            if speaker is None:
                raise DataError("this model is speaker-normalised: enrol the speaker first (--enroll)")
            features = speaker.normalize(features)
        return self.classify_features(features)

    def predict(self, clips: np.ndarray, speakers: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (N, classes) for clips (N, samples). A speaker-normalised model
        takes each speaker's statistics from their clips here: `speakers` names whose each
        clip is (default: all one speaker's)."""
        features = np.stack([self.clip_features(clip) for clip in clips])
        if self.speaker_norm:
            who = np.asarray(speakers) if speakers is not None else np.full(len(clips), "of the input")
            features = speaker_normalize(features, who)
        return np.stack([self.classify_features(row) for row in features])

    def time_clips(self, clips: np.ndarray, warmup: int, runs: int) -> np.ndarray:
        """Milliseconds per clip, features and classification together, after `warmup` runs
        (a speaker-normalised model with the clips' own statistics as the enrolment)."""
        speaker = self.enrol(clips)
        for i in range(warmup):
            self.classify(self.clip_features(clips[i % len(clips)]), speaker)
        times = np.empty(runs)
        for i in range(runs):
            clip = clips[i % len(clips)]
            started = time.perf_counter()
            self.classify(self.clip_features(clip), speaker)
            times[i] = (time.perf_counter() - started) * 1000.0
        return times


def min_window_samples(samples: int) -> int:
    """The least audio a window is worth scoring on: a shorter window is mostly silence padding."""
    return samples // 2


def clip_windows(signal: np.ndarray, samples: int) -> list[tuple[int, np.ndarray]]:
    """(start sample, clip) windows of a recording: one centred clip when it is short, else
    consecutive clips; a last partial window counts when it holds `min_window_samples`."""
    from stressvision.voice.audio import model_clip

    if len(signal) <= samples:
        return [(0, model_clip(signal, samples))]
    starts = range(0, len(signal) - min_window_samples(samples) + 1, samples)
    return [(start, model_clip(signal[start : start + samples], samples)) for start in starts]


def read_windows(path: str | os.PathLike, sample_rate: int, samples: int) -> list[tuple[int, np.ndarray]]:
    """The clip windows of a WAV file, with a warning line on stderr when the whole file is
    shorter than `min_window_samples`: it is still scored, the model's input is fixed, but
    mostly on the silence it is padded with."""
    from stressvision.voice.audio import read_recording_file

    signal = read_recording_file(path, sample_rate)
    if len(signal) < min_window_samples(samples):
        print(
            f"warning: {path}: {len(signal) / sample_rate:.2f} s of audio in the model's "
            f"{samples / sample_rate:g} s window, the rest silence: its scores say little; "
            f"give at least {min_window_samples(samples) / sample_rate:g} s",
            file=sys.stderr,
        )
    return clip_windows(signal, samples)


def stream_windows(
    stream: BinaryIO, raw_rate: int, sample_rate: int, samples: int, source: str = "-"
) -> Iterator[tuple[int, np.ndarray]]:
    """(start sample, clip) windows of audio read from a stream (`stream_format`: a WAV header,
    else raw 16-bit mono PCM at `raw_rate`), each as soon as it is complete; a last partial one
    counts when it holds `min_window_samples`. A stream too short for any window is an
    AudioError, so that an empty answer is not taken for one."""
    from stressvision.voice.audio import (
        AudioError,
        decode_frames,
        model_clip,
        resample,
        stream_format,
    )

    fmt, pending = stream_format(stream, raw_rate, source)
    chunk = round(samples * fmt.rate / sample_rate) * fmt.frame_bytes  # bytes of one window
    least = round(min_window_samples(samples) * fmt.rate / sample_rate) * fmt.frame_bytes
    start = 0
    while True:
        data = stream.read(chunk - len(pending))
        pending += data
        if len(pending) >= chunk or (not data and len(pending) >= least):
            clip = resample(decode_frames(pending, fmt).mean(axis=1), fmt.rate, sample_rate)
            yield start, model_clip(clip[:samples], samples)
            start += samples
            pending = b""
        if not data:
            break
    if not start:
        seconds = len(pending) / (fmt.rate * fmt.frame_bytes)
        least_s = min_window_samples(samples) / sample_rate
        raise AudioError(
            source, f"{seconds:.2f} s of audio, under the {least_s:g} s a window needs: nothing scored"
        )
