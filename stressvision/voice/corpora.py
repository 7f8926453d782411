"""Speech emotion corpora: emotion and speaker from each file's path, for every naming we read.

EmoDB  `wav/03a01Wa.wav`: speaker 03, text a01, emotion W (German initial), version a.
RAVDESS `Actor_01/03-01-05-01-02-01-01.wav`: emotion is the third field, actor the last.
TESS   `OAF_angry/OAF_back_angry.wav`: speaker OAF or YAF, emotion the last word.
Folder per class `<emotion>/<speaker>_<anything>.wav`: speaker = the name before the first `_`.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from stressvision.errors import DataError, a_few
from stressvision.params import Section
from stressvision.voice.audio import AudioError, load_recording, model_clip

MAX_SAMPLE_RATE = 96_000  # twice the highest corpus rate (RAVDESS 48 kHz); more only pads memory


def clip_format_params(section: Section) -> tuple[int, float]:
    """`voice_map_labels.sample_rate` and `clip_seconds`: the one place their bounds live (a
    rate of 10**12 was a 14 TiB allocation mid-decoding)."""
    return (
        section.int("sample_rate", minimum=4000, maximum=MAX_SAMPLE_RATE),
        section.float("clip_seconds", minimum=0.25, maximum=30.0),
    )


# Every emotion the supported corpora use, under one spelling.
VOICE_EMOTIONS: tuple[str, ...] = (
    "angry",
    "boredom",
    "calm",
    "disgust",
    "fear",
    "happy",
    "neutral",
    "sad",
    "surprise",
)

EMODB_EMOTIONS = {
    "W": "angry",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happy",
    "T": "sad",
    "N": "neutral",
}
RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}
TESS_EMOTIONS = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "surprise",
    "sad": "sad",
}
# Folder names users give their own recordings, beyond the canonical names above.
FOLDER_ALIASES = {
    "anger": "angry",
    "happiness": "happy",
    "sadness": "sad",
    "fearful": "fear",
    "bored": "boredom",
    "surprised": "surprise",
    "disgusted": "disgust",
}

_EMODB = re.compile(r"^(\d\d)([a-z]\d\d)([WLEAFTN])([a-z])\.wav$")
_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav$")
_TESS = re.compile(r"^(OAF|YAF)_(.+)_([a-z]+)\.wav$", re.IGNORECASE)
CORPORA = ("emodb", "ravdess", "tess", "folder")
# How each naming tells the speaker, in words for messages about speakers (label_from_path reads it).
SPEAKER_NAMING = {
    "emodb": "EmoDB: the first two digits",
    "ravdess": "RAVDESS: the last number, the actor",
    "tess": "TESS: OAF or YAF at the start",
    "folder": "<emotion>/ folders: the part before the first `_`, or the whole name without one",
}


@dataclass(frozen=True)
class ClipLabel:
    emotion: str  # one of VOICE_EMOTIONS
    speaker: str  # "<corpus>:<id>", unique across corpora
    corpus: str


def label_from_path(path: str) -> ClipLabel | None:
    """The emotion and speaker a file's path names, or None when it follows no known naming."""
    p = PurePosixPath(path.replace("\\", "/"))
    name = p.name
    if m := _EMODB.match(name):
        return ClipLabel(EMODB_EMOTIONS[m.group(3)], f"emodb:{m.group(1)}", "emodb")
    if m := _RAVDESS.match(name):
        emotion = RAVDESS_EMOTIONS.get(m.group(3))
        return ClipLabel(emotion, f"ravdess:{m.group(7)}", "ravdess") if emotion else None
    if m := _TESS.match(name):
        emotion = TESS_EMOTIONS.get(m.group(3).lower())
        return ClipLabel(emotion, f"tess:{m.group(1).upper()}", "tess") if emotion else None
    folder = p.parent.name.lower()
    emotion = folder if folder in VOICE_EMOTIONS else FOLDER_ALIASES.get(folder)
    if emotion:
        return ClipLabel(emotion, f"folder:{name.split('_')[0] if '_' in name else name}", "folder")
    return None


def speaker_naming(speakers: Iterable[str]) -> str:
    """How the file names gave these speaker ids (`<corpus>:<id>`), for a message that asks to fix them."""
    return "; ".join(SPEAKER_NAMING[corpus] for corpus in sorted({s.split(":")[0] for s in speakers}))


@dataclass
class VoiceClips:
    """Decoded clips (int16, one row per clip) with their source emotion and speaker."""

    clips: np.ndarray
    emotions: np.ndarray  # index into VOICE_EMOTIONS
    speakers: np.ndarray  # str
    files: np.ndarray  # str, path inside the corpus
    missing_seconds: np.ndarray  # float32, audio a cut-off file lacks (0: whole); see load_recording
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def cut_off(self) -> np.ndarray:
        """Which clips come from a cut-off file (scored on the audio it holds)."""
        return self.missing_seconds > 0


def iter_wav_members(source: str | os.PathLike) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(relative path, reader) of every file in a zip archive or a folder, sorted by path."""
    source = Path(source)
    if source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            yield path.relative_to(source).as_posix(), path.read_bytes
        return
    if not zipfile.is_zipfile(source):
        raise DataError(f"{source}: not a zip archive or a folder of WAV files")
    with zipfile.ZipFile(source) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if not info.is_dir():
                yield info.filename, lambda info=info: archive.read(info)


def cut_off_note(clips: VoiceClips, among: np.ndarray | None = None) -> str | None:
    """One warning line's worth on the cut-off files among `clips` (those in `among`), or None:
    they are used on the audio they hold, and the user may have a whole copy."""
    cut = clips.cut_off if among is None else among & clips.cut_off
    if not cut.any():
        return None
    named = [f"{f} lacks {m:.2f} s" for f, m in zip(clips.files[cut], clips.missing_seconds[cut])]
    return (
        f"{len(named)} cut-off file(s) used on the audio they hold ({a_few(named)}): "
        "copy them again for full clips"
    )


def read_voice_corpus(
    source: str | os.PathLike, sample_rate: int, clip_seconds: float, progress_every: int = 500
) -> VoiceClips:
    """Every labelled WAV of a corpus as fixed-length clips; unusable files are counted, not fatal.

    Hidden files and folders are left out. Files that are not WAVs (by extension), or whose
    names follow no known naming, are skipped with a reason, as are corrupt, silent and
    too-short recordings; cut-off files are kept, with the seconds they lack in `missing_seconds`.
    """
    clips, emotions, speakers, files, missing_seconds = [], [], [], [], []
    skipped: Counter[str] = Counter()
    length = round(sample_rate * clip_seconds)
    for name, read in iter_wav_members(source):
        parts = PurePosixPath(name).parts
        if any(part.startswith(".") for part in parts) or "__MACOSX" in parts:  # ._x.wav, .Trash/
            continue
        base = parts[-1]
        if not base.lower().endswith(".wav"):
            skipped["not a .wav file"] += 1
            continue
        label = label_from_path(name)
        if label is None:
            skipped["file name follows no known corpus naming (EmoDB, RAVDESS, TESS, <emotion>/)"] += 1
            continue
        try:
            recording = load_recording(read(), sample_rate, name)
        except AudioError as exc:
            skipped[exc.reason] += 1
            continue
        clip = model_clip(recording.signal, length)
        clips.append(np.round(clip * 32767).astype(np.int16))
        missing_seconds.append(recording.missing_seconds)
        emotions.append(VOICE_EMOTIONS.index(label.emotion))
        speakers.append(label.speaker)
        files.append(name)
        if progress_every and len(clips) % progress_every == 0:
            print(f"  decoded {len(clips)} clips", flush=True)
    return VoiceClips(
        clips=np.stack(clips) if clips else np.zeros((0, length), np.int16),
        emotions=np.array(emotions, np.int16),
        speakers=np.array(speakers, dtype=str),
        files=np.array(files, dtype=str),
        missing_seconds=np.array(missing_seconds, np.float32),
        skipped=dict(skipped),
    )
