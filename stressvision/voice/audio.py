"""Reading WAV files into fixed-length mono clips, with numpy only (the edge has no TensorFlow).

A small RIFF reader instead of the stdlib `wave` module: `wave` rejects float and
WAVE_FORMAT_EXTENSIBLE files, which common recorders and the TESS corpus write.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from stressvision.errors import DataError

PCM, IEEE_FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
ENCODINGS = {(PCM, 8), (PCM, 16), (PCM, 24), (PCM, 32), (IEEE_FLOAT, 32), (IEEE_FLOAT, 64)}  # (tag, bits)
MIN_RATE, MAX_RATE = 1000, 768_000  # sample rates outside these are a corrupt header or a typo
MIN_SECONDS = 0.1  # shorter than this holds no usable speech
# A data size this large is a placeholder: a recorder writing to a pipe (arecord, ffmpeg) cannot
# know the length, so a file holding less is not cut off.
STREAMED_SIZE = 0x7FFF0000


class AudioError(DataError):
    """A WAV file that cannot be used; `reason` is the short skip reason counted in reports."""

    def __init__(self, source: str, reason: str):
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass(frozen=True)
class AudioFormat:
    """How samples are stored: a WAV's `fmt ` chunk, or raw PCM's agreed format."""

    tag: int  # PCM or IEEE_FLOAT
    channels: int
    rate: int
    bits: int

    @property
    def frame_bytes(self) -> int:
        return self.channels * (self.bits // 8)


def _format(body: bytes, source: str) -> AudioFormat:
    """A `fmt ` chunk's format, checked: one this reader cannot decode is an AudioError."""
    if len(body) < 16:
        raise AudioError(source, "corrupt WAV header")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack("<H", body[24:26])[0]
    if channels < 1 or not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(source, "corrupt WAV header")
    if (tag, bits) not in ENCODINGS:
        raise AudioError(source, f"unsupported WAV encoding (format {tag}, {bits} bits)")
    return AudioFormat(tag, channels, rate, bits)


def _wav_header(stream: BinaryIO, source: str) -> tuple[AudioFormat, int]:
    """The format and the declared data size of a WAV whose RIFF/WAVE tag has been read: its
    chunks are walked up to the `data` one, and the stream is left at the audio."""
    fmt = None
    while len(header := stream.read(8)) == 8:
        chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
        if chunk_id == b"data":
            if fmt is None:
                raise AudioError(source, "corrupt WAV header")
            return fmt, size
        body = stream.read(size + (size & 1))
        if chunk_id == b"fmt ":
            fmt = _format(body[:size], source)
    raise AudioError(source, "corrupt WAV (no audio data)")


def _is_wav(head: bytes) -> bool:
    return len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def decode_wav(data: bytes, source: str = "<bytes>") -> tuple[np.ndarray, int, float]:
    """Float32 samples in [-1, 1], shape (frames, channels), the sample rate, and the seconds of
    audio the header promises but the file lacks (0 unless it is a cut-off copy)."""
    if not _is_wav(data[:12]):
        raise AudioError(source, "not a WAV file")
    stream = io.BytesIO(data)
    stream.seek(12)
    fmt, size = _wav_header(stream, source)
    body = stream.read(size)
    missing = size - len(body) if size < STREAMED_SIZE else 0
    return decode_frames(body, fmt), fmt.rate, missing / (fmt.rate * fmt.frame_bytes)


def decode_frames(body: bytes, fmt: AudioFormat) -> np.ndarray:
    """Float32 samples in [-1, 1], shape (frames, channels), of whole frames in `fmt`
    (a trailing partial frame is dropped)."""
    body = body[: len(body) - len(body) % fmt.frame_bytes]
    tag, bits = fmt.tag, fmt.bits
    if tag == PCM and bits == 8:
        x = (np.frombuffer(body, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == PCM and bits == 16:
        x = np.frombuffer(body, "<i2").astype(np.float32) / 32768.0
    elif tag == PCM and bits == 24:
        b = np.frombuffer(body, np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / 8388608.0
    elif tag == PCM and bits == 32:
        x = np.frombuffer(body, "<i4").astype(np.float32) / 2147483648.0
    else:  # IEEE_FLOAT, 32 or 64 bits
        x = np.frombuffer(body, "<f4" if bits == 32 else "<f8").astype(np.float32)
        x = np.nan_to_num(np.clip(x, -1.0, 1.0))
    return x.reshape(-1, fmt.channels)


def stream_format(stream: BinaryIO, raw_rate: int, source: str = "-") -> tuple[AudioFormat, bytes]:
    """The format of audio read from a stream, and the first of its audio bytes: a WAV header
    (what `arecord` and `ffmpeg` write to a pipe) is read past and obeyed; anything else is
    raw 16-bit mono PCM at `raw_rate`."""
    head = stream.read(12)
    if not _is_wav(head):
        return AudioFormat(PCM, 1, raw_rate, 16), head
    return _wav_header(stream, source)[0], b""


def resample(signal: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling of a 1-D signal by FFT (no aliasing when downsampling)."""
    if rate == target_rate or len(signal) == 0:
        return signal.astype(np.float32)
    n_out = max(1, round(len(signal) * target_rate / rate))
    spectrum = np.fft.rfft(signal.astype(np.float64))
    keep = min(len(spectrum), n_out // 2 + 1)
    out_spectrum = np.zeros(n_out // 2 + 1, np.complex128)
    out_spectrum[:keep] = spectrum[:keep]
    return (np.fft.irfft(out_spectrum, n_out) * (n_out / len(signal))).astype(np.float32)


def fix_length(signal: np.ndarray, length: int) -> np.ndarray:
    """Centre-crop a long clip (speech sits in the middle) or zero-pad a short one at the end."""
    if len(signal) >= length:
        start = (len(signal) - length) // 2
        return signal[start : start + length]
    return np.pad(signal, (0, length - len(signal)))


def model_clip(signal: np.ndarray, length: int) -> np.ndarray:
    """The model's input from a recording or a window of one: `fix_length`, with the DC offset
    of the audio it holds removed (the mean of that audio, not of the padding), so that a file,
    its windows and a stream cut into the same windows give the same clips."""
    held = fix_length(signal, length) if len(signal) > length else signal
    if len(held):
        held = (held - held.mean(dtype=np.float64)).astype(np.float32)
    return fix_length(held, length)


@dataclass(frozen=True)
class Recording:
    """A WAV file's audio, and how much of it the file lost."""

    signal: np.ndarray  # mono float32 at the requested rate
    missing_seconds: float  # audio its header promises but the file lacks; 0 when it is whole


def load_recording(data: bytes, sample_rate: int, source: str = "<bytes>") -> Recording:
    """A whole WAV file, mono at `sample_rate`.

    Stereo is mixed down, other rates are resampled; a recording shorter than MIN_SECONDS
    or silent throughout is rejected (an AudioError with a reason): it carries no speech.
    A cut-off file (an interrupted copy or recording) is kept, like a trailing partial frame
    always was: the audio it holds is intact, so it is used as a shorter recording, subject to
    the same rules, and `missing_seconds` lets the caller say so.
    """
    samples, rate, missing_seconds = decode_wav(data, source)
    mono = samples.mean(axis=1)
    if len(mono) < MIN_SECONDS * rate:
        raise AudioError(source, f"too short (under {MIN_SECONDS} s)")
    if not np.any(np.abs(mono - mono.mean()) > 1e-4):  # a DC offset alone is silence too
        raise AudioError(source, "silent")
    return Recording(resample(mono, rate, sample_rate), missing_seconds)


def load_clip(data: bytes, sample_rate: int, clip_seconds: float, source: str = "<bytes>") -> np.ndarray:
    """A WAV file as the model's input: mono, at `sample_rate`, exactly `clip_seconds` long."""
    return model_clip(load_recording(data, sample_rate, source).signal, round(sample_rate * clip_seconds))


def read_recording_file(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """A WAV file for the edge command, with a warning line on stderr when it is cut off: its
    scores then cover only the audio it holds."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AudioError(str(path), f"unreadable ({exc.strerror})") from None
    recording = load_recording(data, sample_rate, str(path))
    if recording.missing_seconds > 0:
        held = len(recording.signal) / sample_rate
        print(
            f"warning: {path}: cut off, {recording.missing_seconds:.2f} s of audio missing; "
            f"scored on the {held:.2f} s it holds: copy or record it again for a full score",
            file=sys.stderr,
        )
    return recording.signal


def encode_wav(signal: np.ndarray, sample_rate: int) -> bytes:
    """16-bit mono PCM WAV bytes (the sample corpus and tests write real files with this)."""
    pcm = np.clip(np.round(signal * 32767.0), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()
