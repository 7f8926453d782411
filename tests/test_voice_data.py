"""The voice branch's data path: WAV decoding, corpus naming, bad files, speakers, features."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stressvision.errors import DataError, ParamsError
from stressvision.params import Section
from stressvision.voice.audio import (
    AudioError,
    decode_wav,
    encode_wav,
    fix_length,
    load_clip,
    load_recording,
    read_recording_file,
    resample,
)
from stressvision.voice.augment import change_speed, speed_copies
from stressvision.voice.corpora import (
    VOICE_EMOTIONS,
    cut_off_note,
    label_from_path,
    read_voice_corpus,
    speaker_naming,
)
from stressvision.voice.download import CORPUS_FILE, fetch_voice_corpus
from stressvision.voice.inference import clip_windows, read_windows, stream_windows
from stressvision.voice.sample_voices import write_sample_corpus
from stressvision.voice.speakers import SpeakerSplitConfig, assign_speakers, speaker_folds, too_few_clips
from tests.conftest import REAL_EMODB

RATE = 16000


def tone(freq: float = 440.0, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(
    samples: np.ndarray, rate: int, tag: int = 1, bits: int = 16, extensible: bool = False
) -> bytes:
    """A WAV file written by hand, for the encodings the stdlib `wave` module cannot write."""
    frames = samples if samples.ndim == 2 else samples[:, None]
    channels = frames.shape[1]
    if tag == 3:
        data = frames.astype("<f4" if bits == 32 else "<f8").tobytes()
    elif bits == 8:
        data = np.round(frames * 127 + 128).astype(np.uint8).tobytes()
    elif bits == 24:
        ints = np.round(frames * 8388607).astype("<i4").reshape(-1)
        data = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints)
    else:
        data = np.round(frames * (2 ** (bits - 1) - 1)).astype(f"<i{bits // 8}").tobytes()
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * block, block, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + b"\x00" * 14
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


@pytest.mark.parametrize(
    "tag,bits,extensible",
    [(1, 8, False), (1, 16, False), (1, 24, False), (1, 32, False), (3, 32, False), (3, 64, True)],
)
def test_every_common_wav_encoding_decodes_to_the_same_signal(tag, bits, extensible):
    signal = tone(seconds=0.2)
    decoded, rate, missing_seconds = decode_wav(wav_bytes(signal, RATE, tag, bits, extensible))
    assert rate == RATE and decoded.shape == (len(signal), 1) and missing_seconds == 0
    assert np.abs(decoded[:, 0] - signal).max() < (0.01 if bits == 8 else 1e-3)


def test_stereo_is_mixed_down_and_other_rates_are_resampled_without_shifting_pitch():
    left, right = tone(440, rate=44100), tone(440, rate=44100) * 0.5
    clip = load_clip(wav_bytes(np.stack([left, right], axis=1), 44100), RATE, 1.0)
    assert clip.shape == (RATE,)
    spectrum = np.abs(np.fft.rfft(clip))
    assert abs(np.argmax(spectrum) * RATE / len(clip) - 440) <= 1.0  # still 440 Hz
    assert abs(np.abs(clip).max() - 0.375) < 0.01  # the mean of both channels


def test_resampling_down_removes_what_the_new_rate_cannot_hold():
    high = tone(7000, rate=44100)  # above the 4 kHz Nyquist limit of 8 kHz audio
    assert np.abs(resample(high, 44100, 8000)).max() < 0.01


def test_clips_are_centre_cropped_or_zero_padded_to_the_param_length():
    assert fix_length(np.arange(10.0), 4).tolist() == [3, 4, 5, 6]
    assert fix_length(np.ones(3), 5).tolist() == [1, 1, 1, 0, 0]
    assert load_clip(encode_wav(tone(seconds=3.0), RATE), RATE, 2.0).shape == (2 * RATE,)
    assert load_clip(encode_wav(tone(seconds=0.5), RATE), RATE, 2.0).shape == (2 * RATE,)


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"\xff\xd8\xff\xe0 a jpeg", "not a WAV file"),
        (b"", "not a WAV file"),
        (wav_bytes(tone(), RATE)[:30], "corrupt WAV header"),
        (wav_bytes(tone(), RATE)[:36], "corrupt WAV (no audio data)"),
        (encode_wav(tone(seconds=0.05), RATE), "too short (under 0.1 s)"),
        (encode_wav(np.zeros(RATE, np.float32), RATE), "silent"),
        (encode_wav(np.full(RATE, 0.05, np.float32), RATE), "silent"),  # a DC offset alone
        (wav_bytes(tone(), RATE, tag=6, bits=8), "unsupported WAV encoding (format 6, 8 bits)"),
    ],
)
def test_unusable_files_are_refused_with_a_short_reason(data, reason):
    with pytest.raises(AudioError) as error:
        load_clip(data, RATE, 1.0, "x.wav")
    assert error.value.reason == reason and str(error.value) == f"x.wav: {reason}"


def cut_off(data: bytes, keep: float = 0.5) -> bytes:
    """A WAV file's bytes as an interrupted copy leaves them: the header promises them all."""
    return data[: round(len(data) * keep)]


def test_a_cut_off_wav_keeps_the_audio_it_holds_and_says_how_much_it_lacks():
    whole = encode_wav(tone(seconds=2.0), RATE)
    recording = load_recording(cut_off(whole), RATE, "x.wav")
    held = len(recording.signal) / RATE
    assert 0.99 < held < 1.01 and recording.missing_seconds == pytest.approx(2.0 - held, abs=1e-3)
    np.testing.assert_array_equal(
        recording.signal, load_recording(whole, RATE).signal[: len(recording.signal)]
    )
    assert load_recording(whole, RATE).missing_seconds == 0
    with pytest.raises(AudioError, match="too short"):  # under MIN_SECONDS left: skipped as before
        load_recording(cut_off(whole, 0.02), RATE, "x.wav")


def test_a_streamed_wav_with_a_placeholder_length_is_not_cut_off():
    whole = encode_wav(tone(seconds=1.0), RATE)
    data_at = whole.index(b"data") + 4
    streamed = whole[:data_at] + struct.pack("<I", 0xFFFFFFFF) + whole[data_at + 4 :]  # ffmpeg to a pipe
    assert decode_wav(streamed)[2] == 0


def test_the_edge_reader_warns_about_a_cut_off_file_in_one_line(tmp_path: Path, capsys):
    path = tmp_path / "cut.wav"
    path.write_bytes(cut_off(encode_wav(tone(seconds=2.0), RATE)))
    assert len(read_recording_file(path, RATE)) == pytest.approx(RATE, abs=20)
    assert capsys.readouterr().err == (
        f"warning: {path}: cut off, 1.00 s of audio missing; scored on the 1.00 s it holds: "
        "copy or record it again for a full score\n"
    )
    path.write_bytes(encode_wav(tone(seconds=2.0), RATE))
    read_recording_file(path, RATE)
    assert capsys.readouterr().err == ""


def test_a_recording_far_shorter_than_the_window_is_scored_with_a_warning(tmp_path: Path, capsys):
    path = tmp_path / "short.wav"
    path.write_bytes(encode_wav(tone(seconds=0.1), RATE))
    windows = read_windows(path, RATE, 2 * RATE)
    assert [start for start, _ in windows] == [0] and windows[0][1].shape == (2 * RATE,)
    assert capsys.readouterr().err == (
        f"warning: {path}: 0.10 s of audio in the model's 2 s window, the rest silence: "
        "its scores say little; give at least 1 s\n"
    )
    path.write_bytes(encode_wav(tone(seconds=1.0), RATE))  # half a window: scored like a last window
    assert len(read_windows(path, RATE, 2 * RATE)) == 1 and capsys.readouterr().err == ""


def test_recordings_are_cut_into_windows_and_a_short_last_one_is_dropped():
    assert [start for start, _ in clip_windows(np.ones(5 * RATE, np.float32), 2 * RATE)] == [
        0,
        2 * RATE,
        4 * RATE,
    ]
    assert [start for start, _ in clip_windows(np.ones(5 * RATE - 1, np.float32), 2 * RATE)] == [0, 2 * RATE]


@pytest.mark.parametrize(
    "path,emotion,speaker",
    [
        ("wav/03a01Wa.wav", "angry", "emodb:03"),
        ("wav/16b10Lb.wav", "boredom", "emodb:16"),
        ("Actor_12/03-01-02-01-01-02-12.wav", "calm", "ravdess:12"),
        ("Actor_01/03-01-08-02-02-01-01.wav", "surprise", "ravdess:01"),
        ("TESS/YAF_pleasant_surprised/YAF_bath_ps.wav", "surprise", "tess:YAF"),
        ("OAF_Fear/OAF_back_fear.wav", "fear", "tess:OAF"),
        ("mine/Happiness/anna_take3.wav", "happy", "folder:anna"),
        ("sad/clip.wav", "sad", "folder:clip.wav"),
    ],
)
def test_labels_and_speakers_come_from_each_corpus_naming(path, emotion, speaker):
    label = label_from_path(path)
    assert (label.emotion, label.speaker) == (emotion, speaker)
    assert label.emotion in VOICE_EMOTIONS


def test_unknown_names_give_no_label():
    assert label_from_path("wav/readme.wav") is None
    assert label_from_path("Actor_01/03-01-09-01-01-01-01.wav") is None  # no emotion 09 in RAVDESS


def test_a_corpus_with_bad_files_keeps_the_good_ones_and_counts_the_rest(tmp_path: Path):
    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("wav/03a01Wa.wav", encode_wav(tone(seconds=2.5), 22050))
        z.writestr("wav/03a02Ta.wav", wav_bytes(np.stack([tone(), tone()], 1), 44100, bits=24))
        z.writestr("wav/03a03Na.wav", b"RIFF garbage")
        z.writestr("wav/03a04Fa.wav", encode_wav(np.zeros(8000, np.float32), RATE))
        z.writestr("wav/notes.txt", b"hello")
        z.writestr("wav/random_name.wav", encode_wav(tone(), RATE))
        z.writestr("__MACOSX/wav/._03a01Wa.wav", b"resource fork")
    corpus = read_voice_corpus(archive, RATE, 2.0)
    assert corpus.clips.shape == (2, 2 * RATE) and corpus.clips.dtype == np.int16
    assert [VOICE_EMOTIONS[e] for e in corpus.emotions] == ["angry", "sad"]
    assert corpus.speakers.tolist() == ["emodb:03", "emodb:03"]
    assert corpus.skipped == {
        "not a WAV file": 1,
        "silent": 1,
        "not a .wav file": 1,
        "file name follows no known corpus naming (EmoDB, RAVDESS, TESS, <emotion>/)": 1,
    }


def test_a_corpus_keeps_a_cut_off_file_and_records_what_it_lacks(tmp_path: Path):
    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("wav/03a01Wa.wav", encode_wav(tone(seconds=2.0), RATE))
        z.writestr("wav/03a02Wa.wav", cut_off(encode_wav(tone(seconds=2.0), RATE)))
    corpus = read_voice_corpus(archive, RATE, 2.0)
    assert corpus.files.tolist() == ["wav/03a01Wa.wav", "wav/03a02Wa.wav"] and not corpus.skipped
    assert corpus.missing_seconds[0] == 0 and corpus.missing_seconds[1] == pytest.approx(1.0, abs=0.01)
    assert cut_off_note(corpus) == (
        "1 cut-off file(s) used on the audio they hold (wav/03a02Wa.wav lacks 1.00 s): "
        "copy them again for full clips"
    )
    assert cut_off_note(corpus, np.array([True, False])) is None


def test_clips_of_speakers_too_few_to_enrol_are_found_and_their_naming_explained():
    speakers = np.array(["folder:anna"] * 5 + ["folder:recording.wav"] + ["emodb:03"] * 4 + ["folder:bo"] * 6)
    assert too_few_clips(speakers).tolist() == [False] * 5 + [True] * 5 + [False] * 6
    assert too_few_clips(np.array([], dtype=str)).tolist() == []
    assert speaker_naming(["folder:recording.wav", "emodb:03", "folder:x"]) == (
        "EmoDB: the first two digits; "
        "<emotion>/ folders: the part before the first `_`, or the whole name without one"
    )


def test_a_folder_per_class_set_reads_like_an_archive(tmp_path: Path):
    for emotion in ("happy", "Anger"):
        (tmp_path / "set" / emotion).mkdir(parents=True)
        (tmp_path / "set" / emotion / "bob_1.wav").write_bytes(encode_wav(tone(), RATE))
    corpus = read_voice_corpus(tmp_path / "set", RATE, 1.0)
    assert sorted(VOICE_EMOTIONS[e] for e in corpus.emotions) == ["angry", "happy"]
    with pytest.raises(DataError, match="not a zip archive or a folder"):
        read_voice_corpus(tmp_path / "set" / "happy" / "bob_1.wav", RATE, 1.0)


def test_local_corpus_sources_and_the_offline_error(tmp_path: Path):
    folder = tmp_path / "ravdess" / "Actor_01"
    folder.mkdir(parents=True)
    (folder / "03-01-05-01-01-01-01.wav").write_bytes(encode_wav(tone(), RATE))
    packed = fetch_voice_corpus("ravdess", str(tmp_path / "ravdess"), "x/y", tmp_path / "raw", tmp_path / "p")
    assert packed == tmp_path / "raw" / CORPUS_FILE
    assert zipfile.ZipFile(packed).namelist() == ["Actor_01/03-01-05-01-01-01-01.wav"]
    copied = fetch_voice_corpus("ravdess", str(packed), "x/y", tmp_path / "raw2", tmp_path / "p")
    assert copied.read_bytes() == packed.read_bytes()
    with pytest.MonkeyPatch.context() as home:
        home.setenv("HOME", str(tmp_path))  # ~/ as a shell reads it
        tilde = fetch_voice_corpus("ravdess", "~/ravdess", "x/y", tmp_path / "raw5", tmp_path / "p")
    assert tilde.read_bytes() == packed.read_bytes()
    with pytest.raises(DataError) as error:  # no archive, no Kaggle credentials (see conftest)
        fetch_voice_corpus(
            "tess", "", "ejlok1/toronto-emotional-speech-set-tess", tmp_path / "r3", tmp_path / "p"
        )
    message = str(error.value)
    assert "voice_download.archive" in message and "KAGGLE_USERNAME" in message and "\n" not in message
    with pytest.raises(DataError, match="not a zip archive"):
        fetch_voice_corpus(
            "emodb", str(folder / "03-01-05-01-01-01-01.wav"), "x/y", tmp_path / "r4", tmp_path / "p"
        )


def test_the_sample_corpus_is_deterministic_and_in_emodb_naming(tmp_path: Path):
    a = write_sample_corpus(tmp_path / "a.zip", speakers=3, clips_per_emotion=1, seed=7, progress=False)
    b = write_sample_corpus(tmp_path / "b.zip", speakers=3, clips_per_emotion=1, seed=7, progress=False)
    assert a.read_bytes() == b.read_bytes()
    corpus = read_voice_corpus(a, RATE, 2.0)
    assert len(corpus.clips) == 21 and not corpus.skipped
    assert sorted(set(corpus.speakers)) == ["emodb:01", "emodb:02", "emodb:03"]


def split_config(**values) -> SpeakerSplitConfig:
    params = {"test_speakers": [], "val_speakers": [], "test": 0.25, "val": 0.125, "seed": 1} | values
    return SpeakerSplitConfig.from_section(Section("voice_split", params))


def test_no_speaker_is_in_two_splits():
    speakers = [f"s{i}" for i in range(8) for _ in range(5)]
    parts = assign_speakers(speakers, split_config())
    assert [len(parts[s]) for s in ("train", "val", "test")] == [5, 1, 2]
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == sorted(set(speakers))
    listed = assign_speakers(speakers, split_config(test_speakers=["s3"], val_speakers=["s0"]))
    assert listed["test"] == ["s3"] and listed["val"] == ["s0"] and "s3" not in listed["train"]


def test_speaker_split_errors_name_the_key_or_the_fix():
    with pytest.raises(ParamsError, match=r"voice_split.test_speakers: no clips of speaker 'emodb:99'"):
        assign_speakers(["a", "b", "c"], split_config(test_speakers=["emodb:99"]))
    with pytest.raises(DataError, match="add recordings of more speakers"):
        assign_speakers(["a", "b"], split_config())
    with pytest.raises(ParamsError, match="also a test speaker"):
        split_config(test_speakers=["a"], val_speakers=["a"])
    with pytest.raises(ParamsError, match=r"^params.yaml: voice_split.test: is 0 and test_speakers is empty"):
        split_config(test=0)  # was an empty test split: a traceback in voice_evaluate after training
    assert split_config(test=0, test_speakers=["a"]).test_speakers == ("a",)
    folds = speaker_folds([f"s{i}" for i in range(5)], 5)
    assert sorted(s for fold in folds for s in fold) == [f"s{i}" for i in range(5)]


@pytest.mark.skipif(not REAL_EMODB.is_file(), reason=f"{REAL_EMODB} not present")
def test_real_emodb_reads_every_file_with_its_speaker_and_emotion():
    with zipfile.ZipFile(REAL_EMODB) as z:
        names = [n for n in z.namelist() if n.endswith(".wav")]
    corpus = read_voice_corpus(REAL_EMODB, RATE, 2.0)
    assert len(corpus.clips) == len(names) == 408 and not corpus.skipped
    assert len(set(corpus.speakers)) == 8
    emotions = {VOICE_EMOTIONS[e] for e in corpus.emotions}
    assert emotions == {"angry", "boredom", "disgust", "fear", "happy", "sad", "neutral"}
    assert np.abs(corpus.clips).max() > 8000  # real speech, not near-silence


def dominant_hz(clip: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(clip.astype(np.float64) * np.hanning(len(clip))))
    return float(np.argmax(spectrum) * rate / len(clip))


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_a_speed_copy_moves_pitch_and_tempo_and_keeps_the_length(factor):
    rate = 16000
    t = np.arange(rate) / rate  # 1 s: a 200 Hz tone sounding from 0.25 to 0.75 s
    tone = np.where((t >= 0.25) & (t < 0.75), 10000 * np.sin(2 * np.pi * 200 * t), 0)
    clip = np.round(tone).astype(np.int16)
    fast = change_speed(clip, factor)
    assert fast.dtype == np.int16 and len(fast) == len(clip)
    assert dominant_hz(fast, rate) == pytest.approx(200 * factor, abs=2.5)
    sounding = np.flatnonzero(np.abs(fast) > 3000)
    assert (sounding[-1] - sounding[0]) / rate == pytest.approx(0.5 / factor, abs=0.005)
    loud = np.round(np.sign(tone) * 32767).astype(np.int16)  # a square wave rings past full scale
    assert change_speed(loud, factor).dtype == np.int16


def test_speed_copies_follow_the_clips_under_their_own_speaker_names():
    split = {
        "clips": np.arange(3 * 400, dtype=np.int16).reshape(3, 400),
        "labels": np.array([0, 1, 2]),
        "speakers": np.array(["emodb:03", "emodb:03", "emodb:08"]),
    }
    out = speed_copies(split, [0.9, 1.1])
    assert len(out["labels"]) == 9 and list(out["labels"]) == [0, 1, 2] * 3
    np.testing.assert_array_equal(out["clips"][:3], split["clips"])
    np.testing.assert_array_equal(out["clips"][3], change_speed(split["clips"][0], 0.9))
    assert list(out["speakers"][3:]) == [
        "emodb:03@x0.9",
        "emodb:03@x0.9",
        "emodb:08@x0.9",
        "emodb:03@x1.1",
        "emodb:03@x1.1",
        "emodb:08@x1.1",
    ]
    assert speed_copies(split, [])["clips"].shape == (3, 400)


@pytest.mark.parametrize(
    "value,message",
    [
        ([0.3], "voice_balance.speed_perturb: each value must be in [0.5, 2.0], got 0.3"),
        ([0.9, 0.9], "voice_balance.speed_perturb: values repeat"),
        (0.9, "voice_balance.speed_perturb: expected a list of numbers like [0.9, 1.1], got 0.9"),
        (["fast"], "expected a list of numbers"),
    ],
)
def test_speed_perturb_param_errors(value, message):
    section = Section("voice_balance", {"speed_perturb": value})
    with pytest.raises(ParamsError) as error:
        section.float_list("speed_perturb", minimum=0.5, maximum=2.0)
    assert message in str(error.value)


def test_a_corpus_leaves_out_hidden_folders_as_the_edge_command_does(tmp_path: Path):
    """A trash or sync folder's copies (`.Trash-1000/`, `.sync/`) are no clips of the set."""
    for folder in ("wav", "wav/.Trash-1000/files", ".sync"):
        (tmp_path / "set" / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / "set" / folder / "03a01Wa.wav").write_bytes(encode_wav(tone(), RATE))
    corpus = read_voice_corpus(tmp_path / "set", RATE, 1.0)
    assert corpus.files.tolist() == ["wav/03a01Wa.wav"] and not corpus.skipped


def test_a_file_and_a_stream_of_it_give_the_same_clips_with_the_dc_offset_removed(tmp_path: Path):
    """Each window's own DC offset goes (the mean of the audio it holds, not of its padding), so
    streaming a file cuts the same model inputs as reading it, offset or not."""
    signal = tone(seconds=4.5) * 0.5 + 0.04
    path = tmp_path / "offset.wav"
    path.write_bytes(encode_wav(signal, RATE))
    from_file = read_windows(path, RATE, RATE * 2)
    streamed = list(stream_windows(io.BytesIO(path.read_bytes()), RATE, RATE, RATE * 2))
    assert [start for start, _ in from_file] == [start for start, _ in streamed] == [0, RATE * 2]
    for (_, a), (_, b) in zip(from_file, streamed):
        np.testing.assert_allclose(a, b, atol=1e-6)
        assert abs(a.mean()) < 1e-6
    short = load_clip(encode_wav(tone(seconds=0.5) * 0.5 + 0.04, RATE), RATE, 1.0)
    assert abs(short[: RATE // 2].mean()) < 1e-6 and not short[RATE // 2 :].any()  # padding stays 0
