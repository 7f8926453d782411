"""The shipped models in pretrained/: usable with nothing but what ships there."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stressvision.voice.audio import encode_wav
from tests.conftest import EMOTIONS_MODEL, PRETRAINED, REAL_EMODB, REAL_FER, ROOT, STRESS_MODEL
from tests.conftest import VOICE_MODEL as VOICE
from tests.test_voice_data import wav_bytes

FACE_MODELS = sorted(p for p in PRETRAINED.glob("face_*") if p.is_dir())


def model_card(name: str) -> str:
    """The section of pretrained/README.md about one model."""
    return (PRETRAINED / "README.md").read_text().split(f"## {name}")[1].split("\n## ")[0]


def stressvision(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stressvision.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "folder", sorted(p for p in PRETRAINED.iterdir() if p.is_dir()), ids=lambda p: p.name
)
def test_every_pretrained_model_is_small_and_documented(folder: Path):
    config = json.loads((folder / "model_config.json").read_text())
    assert config["classes"] and (folder / "int8.tflite").stat().st_size <= 10 * 2**20  # the deployment KPI
    assert f"## {folder.name}" in (PRETRAINED / "README.md").read_text()


def test_the_voice_model_predicts_from_a_copy_without_the_project(tmp_path: Path):
    """Only the shipped folder, in a directory with no params.yaml: what an edge device has."""
    model = tmp_path / "model"
    model.mkdir()
    for file in VOICE.iterdir():
        (model / file.name).write_bytes(file.read_bytes())
    # 12 s of syllables whose pitch wanders: six 2 s windows, enough to enrol the "speaker"
    t = np.arange(44100 * 12) / 44100
    pitch = 160 + 40 * np.sin(2 * np.pi * 0.3 * t)
    speech_like = 0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / 44100) * (np.sin(2 * np.pi * 4 * t) > 0)
    (tmp_path / "clip.wav").write_bytes(encode_wav(speech_like.astype(np.float32), 44100))
    result = stressvision("predict", "--model", str(model), str(tmp_path / "clip.wav"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    classes = json.loads((VOICE / "model_config.json").read_text())["classes"]
    assert len(lines) == 6 and set(lines[0]["probabilities"]) == set(classes)
    flipped = stressvision(
        "predict", "--model", str(model), "--tta", "flip", str(tmp_path / "clip.wav"), cwd=tmp_path
    )
    assert flipped.returncode == 2
    assert flipped.stderr.strip() == "error: --tta is for face models; leave it out for a voice model"


@pytest.mark.skipif(not REAL_EMODB.is_file(), reason=f"{REAL_EMODB} not present")
def test_the_voice_model_card_figure_is_what_evaluate_measures(tmp_path: Path):
    """The card's test accuracy, re-measured on the real EmoDB test speakers (10 and 11)."""
    with zipfile.ZipFile(REAL_EMODB) as archive:
        for name in archive.namelist():
            if re.fullmatch(r"wav/1[01]\w+\.wav", name):
                archive.extract(name, tmp_path)
    result = stressvision(
        "evaluate", "--model", str(VOICE), "--data", str(tmp_path / "wav"), "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    card = (PRETRAINED / "README.md").read_text()
    assert report["n"] == 93
    assert f"**{report['accuracy']:.3f}** (macro F1 {report['macro_f1']:.3f})" in card, report["accuracy"]


@pytest.fixture(scope="module")
def fer_private_test(tmp_path_factory) -> Path:
    """FER-2013's official PrivateTest images, in their emotion folders."""
    root = tmp_path_factory.mktemp("fer")
    with zipfile.ZipFile(REAL_FER) as archive:
        for name in archive.namelist():
            if name.startswith("test/") and name.endswith(".jpg"):
                archive.extract(name, root)
    return root / "test"


@pytest.mark.skipif(not REAL_FER.is_file(), reason=f"{REAL_FER} not present")
@pytest.mark.parametrize("folder", FACE_MODELS, ids=lambda p: p.name)
def test_a_face_model_card_figure_is_what_evaluate_measures(
    folder: Path, fer_private_test: Path, tmp_path: Path
):
    """Emotion folders are mapped by the model's own config; the card's INT8 figures are
    re-measured as the bundle runs (the TTA its model_config.json names) and with each mode."""
    card = model_card(folder.name)
    accuracy = {}
    for mode in ("bundle", "none", "flip"):
        args = ["evaluate", "--model", str(folder), "--data", str(fer_private_test), "--json"]
        result = stressvision(*args, *([] if mode == "bundle" else ["--tta", mode]), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["n"] == 3589
        accuracy[mode] = report["accuracy"]
    assert json.loads((folder / "model_config.json").read_text())["tta"] == "flip_zoom"
    assert f"as the bundle runs (`flip_zoom`): **{accuracy['bundle']:.3f}**" in card, accuracy
    assert f"`--tta flip`: {accuracy['flip']:.3f}" in card, accuracy
    assert f"one pass (`--tta none`): {accuracy['none']:.3f}" in card, accuracy


@pytest.mark.skipif(not REAL_FER.is_file(), reason=f"{REAL_FER} not present")
def test_the_stress_card_s_ensemble_figure_is_what_evaluate_measures(fer_private_test: Path, tmp_path: Path):
    """The stress model with the 7-emotion model beside it (its output summed into stress classes)."""
    models = ["--model", str(STRESS_MODEL), "--model", str(EMOTIONS_MODEL)]
    result = stressvision("evaluate", *models, "--data", str(fer_private_test), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 3589 and list(report["per_class"]) == ["neutral", "stress", "sad", "happy"]
    figure = f"beside it: **{report['accuracy']:.3f}** (macro F1 {report['macro_f1']:.3f})"
    assert figure in model_card("face_fer2013_stress"), report["accuracy"]


@pytest.mark.skipif(not REAL_FER.is_file(), reason=f"{REAL_FER} not present")
@pytest.mark.parametrize("folder", FACE_MODELS, ids=lambda p: p.name)
def test_a_face_card_s_soft_face_figures_are_what_face_robustness_measures(
    folder: Path, fer_private_test: Path
):
    """The shipped face models read soft faces (trained with `blur`): the card's figures, in the
    script's order, are what `benchmarks.face_robustness` prints for each."""
    printed = face_robustness(fer_private_test, folder)
    figures = soft_face_figures(folder.name)
    assert figures == printed, (figures, printed)
    assert float(printed[3]) > 0.6  # sigma 1.0: the model before read 0.42 of such faces


@pytest.mark.skipif(not REAL_FER.is_file(), reason=f"{REAL_FER} not present")
def test_the_stress_card_s_soft_face_figures_for_the_pair_are_what_face_robustness_measures(
    fer_private_test: Path,
):
    """The pair reads soft faces better than the stress model alone; its card says by how much."""
    pair = face_robustness(fer_private_test, STRESS_MODEL, EMOTIONS_MODEL)
    _, _, blur_07, blur_10, px_40, px_32, _ = pair
    row = card_row("face_fer2013_stress", "with the 7-emotion model")
    assert f"blurred by sigma 0.7 px {blur_07}, 1.0 px {blur_10}" in row, pair
    assert f"brought down to 40 px and back {px_40}, 32 px {px_32}" in row, pair
    alone = soft_face_figures("face_fer2013_stress")  # checked against the script above
    assert all(float(both) > float(one) for both, one in zip(pair[2:6], alone[2:6])), (pair, alone)


def card_row(name: str, first_cell: str) -> str:
    return next(line for line in model_card(name).splitlines() if line.startswith(f"| {first_cell} |"))


def soft_face_figures(name: str) -> list[str]:
    """The figures of a card's soft-face row for the model itself, in `face_robustness`'s order."""
    return re.findall(r"\d\.\d{4}", card_row(name, "soft faces").split("The model it replaces")[0])


def face_robustness(faces: Path, *models: Path) -> list[str]:
    """The accuracies `benchmarks.face_robustness` prints, in its order, for `models` averaged."""
    command = ["-m", "benchmarks.face_robustness", "--data", str(faces)]
    command += [arg for model in models for arg in ("--model", str(model))]
    result = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [line.rsplit(" ", 1)[1] for line in result.stdout.splitlines()[2:]]


def speech_like(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Syllables whose pitch wanders over a microphone's noise floor: enough like speech for the
    voice model's features (digital silence between syllables is not what a recording holds)."""
    t = np.arange(round(rate * seconds)) / rate
    pitch = 160 + 40 * np.sin(2 * np.pi * (0.3 + 0.05 * seed) * t)
    syllables = np.sin(2 * np.pi * (4 + 0.5 * seed) * t) > 0
    noise = np.random.default_rng(seed).normal(0, 0.003, len(t))
    return (0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / rate) * syllables + noise).astype(np.float32)


@pytest.fixture(scope="module")
def enrolment(tmp_path_factory) -> Path:
    """Five 2 s WAVs of one synthetic "speaker", for --enroll."""
    folder = tmp_path_factory.mktemp("enrol")
    for seed in range(5):
        (folder / f"{seed}.wav").write_bytes(encode_wav(speech_like(2.0, 16000, seed), 16000))
    return folder


def predict_voice(enrolment: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    """`stressvision predict` with the shipped voice model and `enrolment`; stdin as given."""
    command = ["predict", "--model", str(VOICE), "--enroll", str(enrolment), *args]
    return subprocess.run(
        [sys.executable, "-m", "stressvision.cli", *command], input=stdin, capture_output=True, timeout=300
    )


def test_a_wav_piped_to_stdin_is_read_by_its_header(enrolment: Path, tmp_path: Path):
    """`arecord ... |` and `cat x.wav |` write a WAV header: its rate, channels and encoding
    count, not raw 16-bit mono at --pcm-rate; the answer is the file's (up to resampling each
    window of a stream on its own)."""
    wav = tmp_path / "speech.wav"
    wav.write_bytes(wav_bytes(np.stack([speech_like(4.0, 44100, 7)] * 2, axis=1), 44100, bits=24))
    from_file, piped = (
        predict_voice(enrolment, str(wav)),
        predict_voice(enrolment, "-", stdin=wav.read_bytes()),
    )
    assert from_file.returncode == 0 and piped.returncode == 0, piped.stderr
    expected = [json.loads(line) for line in from_file.stdout.splitlines()]
    got = [json.loads(line) for line in piped.stdout.splitlines()]
    assert [line["start_s"] for line in got] == [line["start_s"] for line in expected] == [0.0, 2.0]
    assert [line["label"] for line in got] == [line["label"] for line in expected]
    for ours, theirs in zip(got, expected):
        assert np.allclose(
            list(ours["probabilities"].values()), list(theirs["probabilities"].values()), atol=0.05
        )


def test_a_dc_offset_changes_no_answer(enrolment: Path, tmp_path: Path):
    """A constant offset (cheap microphones and sound cards add one) is not speech: the features
    read it as energy and voicing unless it is removed, in files and in streams alike."""
    speech = speech_like(4.0, 16000, 7)
    (tmp_path / "clean.wav").write_bytes(encode_wav(speech, 16000))
    offset = encode_wav(speech + 0.05, 16000)
    (tmp_path / "offset.wav").write_bytes(offset)
    runs = [
        predict_voice(enrolment, str(tmp_path / "clean.wav"), str(tmp_path / "offset.wav")),
        predict_voice(enrolment, "-", stdin=(tmp_path / "clean.wav").read_bytes()),
        predict_voice(enrolment, "-", stdin=offset),
    ]
    assert all(run.returncode == 0 for run in runs), [run.stderr for run in runs]
    lines = [json.loads(line) for run in runs for line in run.stdout.splitlines()]
    assert [Path(line["file"]).name for line in lines] == ["clean.wav"] * 2 + ["offset.wav"] * 2 + ["-"] * 4
    probabilities = [list(line["probabilities"].values()) for line in lines]
    assert np.allclose(probabilities[2:4], probabilities[0:2], atol=0.02)  # files
    assert np.allclose(probabilities[6:8], probabilities[4:6], atol=0.02)  # streams


def test_an_unreadable_enrolment_file_is_named_and_left_out(enrolment: Path, tmp_path: Path):
    folder = tmp_path / "me"
    folder.mkdir()
    for wav in enrolment.glob("*.wav"):
        (folder / wav.name).write_bytes(wav.read_bytes())
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00")
    (tmp_path / "speech.wav").write_bytes(encode_wav(speech_like(2.0, 16000, 3), 16000))
    result = predict_voice(folder, str(tmp_path / "speech.wav"))
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 1, result.stderr
    assert f"warning: {folder / 'broken.wav'}: " in result.stderr.decode()
    assert "left out of the enrolment" in result.stderr.decode()


@pytest.mark.parametrize("seconds", [0.0, 0.5])
def test_a_stream_too_short_to_score_is_one_error_line(enrolment: Path, seconds: float):
    result = predict_voice(enrolment, "-", stdin=np.zeros(round(16000 * seconds), "<i2").tobytes())
    assert result.returncode == 1 and result.stdout == b"", result.stderr
    assert [line for line in result.stderr.decode().splitlines() if line.startswith("error")] == [
        f"error: -: {seconds:.2f} s of audio, under the 1 s a window needs: nothing scored"
    ]


@pytest.mark.parametrize("rate", ["1", "999", "10000000"])
def test_an_impossible_pcm_rate_is_a_usage_error(enrolment: Path, rate: str):
    result = predict_voice(enrolment, "--pcm-rate", rate, "-")
    assert result.returncode == 2 and "Traceback" not in result.stderr.decode()
    assert "--pcm-rate must be 0 (the model's) or from 1000 to 768000" in result.stderr.decode()


@pytest.mark.parametrize(
    "option", [["--no-detect"], ["--every", "3"], ["--detect-width", "640"], ["--tta", "flip"]]
)
def test_face_options_with_a_voice_model_are_refused(enrolment: Path, tmp_path: Path, option: list[str]):
    (tmp_path / "speech.wav").write_bytes(encode_wav(speech_like(2.0, 16000, 3), 16000))
    result = predict_voice(enrolment, *option, str(tmp_path / "speech.wav"))
    assert result.returncode == 2 and result.stdout == b""
    assert f"error: {option[0]} is for face models; leave it out for a voice model" in result.stderr.decode()


def test_stdin_is_read_once():
    result = predict_voice(Path("."), "-", "-")
    assert result.returncode == 2 and "- (stdin) can be read once" in result.stderr.decode()
