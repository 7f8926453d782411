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
from tests.conftest import EMOTIONS_MODEL, PRETRAINED, REAL_EMODB, REAL_FER, STRESS_MODEL
from tests.conftest import VOICE_MODEL as VOICE

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
    assert flipped.stderr.strip() == "error: --tta augments face images; leave it out for a voice model"


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
