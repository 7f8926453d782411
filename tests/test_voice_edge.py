"""The edge command on the pipeline's voice model: WAV files, raw PCM on stdin, WAV test sets."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stressvision.voice.audio import encode_wav, load_clip
from tests.conftest import ROOT

pytestmark = pytest.mark.pipeline


def stressvision(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stressvision.cli", *args],
        cwd=ROOT,
        capture_output=True,
        input=stdin,
        timeout=300,
    )


@pytest.fixture(scope="module")
def wav_test_set(pipeline_project: Path, tmp_path_factory) -> Path:
    """The voice test split written back as WAV files under their EmoDB names, plus a broken one."""
    root = tmp_path_factory.mktemp("voice-test") / "wav"
    root.mkdir()
    test = np.load(pipeline_project / "data/voice/split/test.npz")
    for clip, name in zip(test["clips"], test["files"]):
        (root / Path(str(name)).name).write_bytes(encode_wav(clip.astype(np.float32) / 32767.0, 16000))
    (root / "03a99Wa.wav").write_bytes(b"RIFF....WAVEbroken")
    return root


def test_evaluate_on_a_wav_set_reproduces_the_quantize_stage(pipeline_project: Path, wav_test_set: Path):
    model = pipeline_project / "models/voice/tflite"
    result = stressvision("evaluate", "--model", str(model), "--data", str(wav_test_set), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = json.loads((pipeline_project / "metrics/voice/quantize.json").read_text())["int8"]
    assert report["n"] == len(np.load(pipeline_project / "data/voice/split/test.npz")["labels"])
    assert report["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-9)
    assert report["macro_f1"] == pytest.approx(expected["f1_macro"], abs=1e-9)
    assert report["skipped_unreadable"] == 1 and b"skipped 1 files: corrupt WAV" in result.stderr


def test_evaluate_skips_speakers_it_cannot_enrol_and_counts_cut_off_files(
    pipeline_project: Path, wav_test_set: Path, tmp_path: Path
):
    model = pipeline_project / "models/voice/tflite"
    test = np.load(pipeline_project / "data/voice/split/test.npz")
    data = tmp_path / "wav"
    shutil.copytree(wav_test_set, data)
    name = Path(str(test["files"][0])).name
    clip = (data / name).read_bytes()
    cut = f"{name[:2]}z99Wz.wav"  # EmoDB naming: one more clip of that test speaker
    (data / cut).write_bytes(clip[: len(clip) // 2])
    (data / "sad").mkdir()
    (data / "sad" / "recording.wav").write_bytes(clip)  # no `_`: a speaker of its own, with one clip
    result = stressvision("evaluate", "--model", str(model), "--data", str(data), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == len(test["labels"]) + 1
    assert report["skipped_speakers_too_few_clips"] == 1 and report["scored_cut_off"] == 1
    warnings = [line for line in result.stderr.decode().splitlines() if line.startswith("warning")]
    assert warnings[1].startswith("warning: skipped 1 clip(s) of 1 speaker(s) with under 5 clips (folder:")
    assert "the part before the first `_`, or the whole name without one" in warnings[1]
    assert warnings[2] == (
        f"warning: 1 cut-off file(s) used on the audio they hold ({cut} lacks 1.00 s): "
        "copy them again for full clips"
    )

    alone = tmp_path / "alone"
    (alone / "sad").mkdir(parents=True)
    (alone / "sad" / "recording.wav").write_bytes(clip)
    result = stressvision("evaluate", "--model", str(model), "--data", str(alone))
    errors = [line for line in result.stderr.decode().splitlines() if line.startswith("error")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: {alone}: no speaker has >= 5 clips; a speaker-normalised model")


def one_speaker(pipeline_project: Path, tmp_path: Path) -> tuple[np.ndarray, Path]:
    """A test speaker's clips, and a folder of WAVs of their other clips to enrol them with."""
    test = np.load(pipeline_project / "data/voice/split/test.npz")
    mine = test["speakers"] == test["speakers"][0]
    clips = test["clips"][mine].astype(np.float32) / 32767.0
    enrol = tmp_path / "enrol"
    enrol.mkdir()
    for i, clip in enumerate(clips[3:]):
        (enrol / f"{i}.wav").write_bytes(encode_wav(clip, 16000))
    return clips[:3], enrol


def test_predict_windows_wav_files_and_reads_raw_pcm_from_stdin(pipeline_project: Path, tmp_path: Path):
    model = pipeline_project / "models/voice/tflite"
    clips, enrol = one_speaker(pipeline_project, tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    long = np.concatenate([clips[0], clips[1], clips[2][:16000]])  # 5 s: windows at 0, 2 and 4 s
    (inputs / "long.wav").write_bytes(encode_wav(long, 16000))
    (inputs / "broken.wav").write_bytes(b"not audio")
    result = stressvision(
        "predict",
        "--model",
        str(model),
        "--enroll",
        str(enrol),
        str(inputs),  # a folder: broken.wav, then long.wav
    )
    assert result.returncode == 1  # one file failed, the next one in the folder was still processed
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["start_s"] for line in lines] == [0.0, 2.0, 4.0]
    assert all(abs(sum(line["probabilities"].values()) - 1) < 0.05 for line in lines)
    errors = [line for line in result.stderr.decode().splitlines() if line.startswith("error")]
    assert errors == [f"error: {inputs / 'broken.wav'}: not a WAV file"]

    pcm = np.round(np.concatenate([clips[0], clips[1]]) * 32767).astype("<i2").tobytes()
    piped = stressvision("predict", "--model", str(model), "--enroll", str(enrol), "-", stdin=pcm)
    assert piped.returncode == 0, piped.stderr
    from_stdin = [json.loads(line) for line in piped.stdout.splitlines()]
    assert [line["start_s"] for line in from_stdin] == [0.0, 2.0]
    assert from_stdin[0]["probabilities"] == lines[0]["probabilities"]  # same clip, same answer


def test_predict_scores_a_cut_off_file_and_says_how_much_it_lacks(pipeline_project: Path, tmp_path: Path):
    model = pipeline_project / "models/voice/tflite"
    clips, enrol = one_speaker(pipeline_project, tmp_path)
    whole = encode_wav(clips[0], 16000)  # 2 s
    cut, short = tmp_path / "cut.wav", tmp_path / "short.wav"
    cut.write_bytes(whole[: len(whole) * 3 // 4])
    short.write_bytes(encode_wav(clips[0][:3200], 16000))  # 0.2 s: a window of mostly padding
    result = stressvision("predict", "--model", str(model), "--enroll", str(enrol), str(cut), str(short))
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["file"] for line in result.stdout.splitlines()] == [str(cut), str(short)]
    warnings = [line for line in result.stderr.decode().splitlines() if line.startswith("warning")]
    assert warnings == [
        f"warning: {cut}: cut off, 0.50 s of audio missing; scored on the 1.50 s it holds: "
        "copy or record it again for a full score",
        f"warning: {short}: 0.20 s of audio in the model's 2 s window, the rest silence: its scores "
        "say little; give at least 1 s",
    ]


def test_a_speaker_normalised_model_enrols_its_speaker_or_says_how(pipeline_project: Path, tmp_path: Path):
    from stressvision.voice.inference import VoiceClassifier

    model = pipeline_project / "models/voice/tflite"
    clips, enrol = one_speaker(pipeline_project, tmp_path)
    # without --enroll, the WAV inputs are the enrolment: the same as enrolling with them
    alone = stressvision("predict", "--model", str(model), str(enrol))
    assert alone.returncode == 0, alone.stderr
    classifier = VoiceClassifier(model / "int8.tflite")
    files = sorted(enrol.glob("*.wav"))
    expected = classifier.predict(np.stack([load_clip(f.read_bytes(), 16000, 2.0, f.name) for f in files]))
    got = [json.loads(line) for line in alone.stdout.splitlines()]
    assert [line["label"] for line in got] == [classifier.classes[i] for i in expected.argmax(1)]

    (tmp_path / "few").mkdir()
    for i in range(2):
        (tmp_path / "few" / f"{i}.wav").write_bytes(encode_wav(clips[i], 16000))
    pcm = np.round(clips[0] * 32767).astype("<i2").tobytes()
    plain = tmp_path / "plain"  # the same files, with a config that says no speaker normalisation
    shutil.copytree(model, plain)
    config = json.loads((plain / "model_config.json").read_text())
    config["features"]["speaker_norm"] = False
    (plain / "model_config.json").write_text(json.dumps(config))
    refused = stressvision("predict", "--model", str(plain), "--enroll", str(enrol), str(enrol))
    assert refused.returncode == 2
    assert (
        refused.stderr.decode().splitlines()[-1]
        == f"error: {plain}: not a speaker-normalised voice model; drop --enroll"
    )
    for args, stdin, message in [
        (["-"], pcm, "error: this voice model is speaker-normalised: to stream, first enrol the speaker"),
        (["--enroll", str(tmp_path / "few"), "-"], pcm, "error: --enroll: 2 clip(s); a speaker-normalised"),
        ([str(tmp_path / "few")], None, "error: the inputs (one speaker; no --enroll given): 2 clip(s)"),
        (["--enroll", str(plain), "-"], pcm, f"error: {plain}: a folder with no .wav files"),
    ]:
        result = stressvision("predict", "--model", str(model), *args, stdin=stdin)
        errors = [line for line in result.stderr.decode().splitlines() if line.startswith("error")]
        assert result.returncode == 2 and len(errors) == 1 and errors[0].startswith(message), result.stderr
        if "clip(s)" in message:  # the hint to use --enroll is in the label, never after --enroll
            assert errors[0].endswith("give more recordings of them"), errors
    # inputs that cannot be read are named before the enrolment they leave too short
    missing = tmp_path / "nope.wav"
    result = stressvision("predict", "--model", str(model), str(missing))
    errors = [line for line in result.stderr.decode().splitlines() if line.startswith("error")]
    assert result.returncode == 2 and errors[0] == f"error: {missing}: unreadable (No such file or directory)"
    assert len(errors) == 2, errors
    assert errors[1].startswith("error: the inputs (one speaker; no --enroll given): 0 clip(s)"), errors


def test_voice_commands_never_import_tensorflow(pipeline_project: Path, wav_test_set: Path):
    model = pipeline_project / "models/voice/tflite/int8.tflite"
    code = (
        "import sys\n"
        "from stressvision.cli import main\n"
        f"main(['evaluate', '--model', {str(model)!r}, '--data', {str(wav_test_set)!r}, '--json'])\n"
        f"main(['predict', '--model', {str(model)!r}, {str(wav_test_set)!r}])\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print('HEAVY', sorted({'tensorflow', 'keras', 'pandas', 'sklearn'} & loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_a_face_model_is_not_taken_for_a_voice_model(pipeline_project: Path, tmp_path: Path):
    (tmp_path / "x.wav").write_bytes(encode_wav(np.zeros(100, np.float32), 16000))
    from stressvision.errors import DataError
    from stressvision.voice.inference import VoiceClassifier

    with pytest.raises(DataError, match="not a voice model"):
        VoiceClassifier(pipeline_project / "models/tflite/int8.tflite")
