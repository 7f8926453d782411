"""Shared fixtures: a temporary git + DVC copy of the project, run on a tiny sample profile."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from benchmarks.project_copy import ROOT, copy_project, git, run

__all__ = ["ROOT", "git", "run", "deep_update", "set_params", "stage_in_copy", "error_lines"]

# Real data beside the project (tests that need it skip without it) and the shipped bundles.
REAL_FER = ROOT.parent / "shared" / "datasets" / "fer2013.zip"
REAL_EMODB = ROOT.parent / "shared" / "datasets" / "emodb.zip"
PRETRAINED = ROOT / "pretrained"
STRESS_MODEL = PRETRAINED / "face_fer2013_stress"
EMOTIONS_MODEL = PRETRAINED / "face_fer2013_emotions"
VOICE_MODEL = PRETRAINED / "voice_emodb_emotions"


def fer_happy_faces(count: int) -> list[bytes]:
    """The first `count` happy faces of the real FER-2013 PrivateTest, as their JPEG files."""
    with zipfile.ZipFile(REAL_FER) as archive:
        names = [n for n in archive.namelist() if n.startswith("test/happy/") and n.endswith(".jpg")]
        return [archive.read(name) for name in names[:count]]

# Small enough for a 2-core CI machine, large enough that a model must learn something.
TINY_PROFILE = {
    "download": {"sample": {"train_per_class": 120, "test_per_class": 30}},
    "train": {"epochs": 25, "input_size": 48, "learning_rate": 0.003, "early_stopping_patience": 10},
    "quantize": {"representative_samples": 50},
    "benchmark": {"runs": 20, "warmup": 2},
    "voice_download": {"sample": {"speakers": 8, "clips_per_emotion": 5}},
    "voice_train": {"epochs": 60},
    "voice_benchmark": {"runs": 10, "warmup": 2},
}


def deep_update(target: dict, updates: dict) -> dict:
    """Merge nested `updates` into `target` (in place) and return it."""
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_update(target[key], value)
        else:
            target[key] = value
    return target


def set_params(project: Path, updates: dict) -> None:
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(deep_update(params, updates), sort_keys=False))


def default_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def stage_in_copy(tmp_path: Path, updates: dict, module: str, *args: str) -> subprocess.CompletedProcess:
    """Run one stage script in a scratch dir holding only a modified params.yaml."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(deep_update(default_params(), updates)))
    shutil.copytree(ROOT / "stages", tmp_path / "stages")
    shutil.copytree(ROOT / "stressvision", tmp_path / "stressvision")
    return run(["python", "-m", f"stages.{module}", *args], tmp_path, check=False)


def vgg_fer_with_units_off(fc_batchnorm: bool, units: int, off: list[int]):
    """A tiny vgg_fer whose dense units are all on for any face (their bias or normalisation
    shift far above what reaches them) but the units `off` of fc1, off for every face."""
    import numpy as np

    from stressvision.models import build_vgg_fer

    model = build_vgg_fer(3, width=0.0625, fc_units=units, fc_batchnorm=fc_batchnorm)
    for i, shift in ((1, 1e6), (2, 1e9)):
        layer = model.get_layer(f"fc{i}_bn" if fc_batchnorm else f"fc{i}")
        weights = layer.get_weights()
        weights[1 if fc_batchnorm else -1] = np.where(np.isin(np.arange(units), off) & (i == 1), -1e6, shift)
        layer.set_weights(weights)
    return model


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error")]


@pytest.fixture(scope="session")
def pipeline_project(tmp_path_factory) -> Path:
    """The project after a full `dvc repro` on the tiny profile, committed to git."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    set_params(project, TINY_PROFILE)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "tiny profile")
    result = run(["dvc", "repro"], project)
    (project / "first_repro.log").write_text(result.stdout + result.stderr)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "first run")
    return project


@pytest.fixture(autouse=True)
def no_kaggle_credentials(monkeypatch, tmp_path_factory):
    """Tests never see the developer's Kaggle credentials (and so never reach Kaggle)."""
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path_factory.mktemp("kaggle-config")))
