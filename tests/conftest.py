"""Shared fixtures: a temporary git + DVC copy of the project, run on a tiny sample profile."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from benchmarks.project_copy import ROOT, copy_project, git, run

__all__ = ["ROOT", "git", "run", "deep_update", "set_params"]

# Small enough for a 2-core CI machine, large enough that a model must learn something.
TINY_PROFILE = {
    "download": {"sample": {"train_per_class": 120, "test_per_class": 30}},
    "train": {"epochs": 15, "input_size": 48, "early_stopping_patience": 8},
    "quantize": {"representative_samples": 50},
    "benchmark": {"runs": 20, "warmup": 2},
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
