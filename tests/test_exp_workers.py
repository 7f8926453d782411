"""A batch of experiments split over two "machines" (clones) and gathered on a third."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import git, run

pytestmark = pytest.mark.pipeline


def clone(origin: Path, where: Path, remote: Path) -> Path:
    run(["git", "clone", "-q", str(origin), str(where)], where.parent)
    run(["dvc", "remote", "modify", "--local", "local", "url", str(remote)], where)
    return where


def test_two_workers_split_a_batch_and_a_third_clone_sees_both(pipeline_project: Path, tmp_path: Path):
    assert git(pipeline_project, "status", "--porcelain", "--untracked-files=no").stdout == ""
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "modify", "--local", "local", "url", str(remote)], pipeline_project)
    run(["dvc", "push"], pipeline_project)
    origin = tmp_path / "origin.git"
    run(["git", "clone", "-q", "--bare", str(pipeline_project), str(origin)], tmp_path)
    batch = tmp_path / "batch.txt"
    batch.write_text(
        "# name, then dvc exp run arguments\nwarm-3 -S benchmark.warmup=3\n"
        "runs-30 -S benchmark.runs=30\n\nruns-40 -S benchmark.runs=40\n"
    )
    shares = {0: ["warm-3", "runs-40"], 1: ["runs-30"]}  # lines 0 and 2, line 1

    for index, names in shares.items():
        worker = clone(origin, tmp_path / f"worker{index}", remote)
        result = run(["bash", "scripts/exp_worker.sh", str(batch), str(index), "2"], worker)
        ran = result.stdout + result.stderr
        assert [line.split("running ")[1] for line in ran.splitlines() if "exp_worker" in line] == names
        assert (
            "Running stage 'benchmark'" in ran and "Running stage 'train'" not in ran
        )  # pulled, not retrained
        assert git(worker, "status", "--porcelain", "--untracked-files=no").stdout == ""  # left as it was
    again = run(["bash", "scripts/exp_worker.sh", str(batch), "0", "2"], worker.parent / "worker0")
    assert "warm-3 was run here before: pushing it" in again.stderr and "Running stage" not in again.stdout

    lead = clone(origin, tmp_path / "lead", remote)
    run(["dvc", "exp", "pull", "origin", "-A"], lead)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], lead).stdout)
    experiments = {
        e["name"]: e["revs"][0]["data"] for baseline in shown for e in (baseline.get("experiments") or [])
    }
    assert set(experiments) == {"warm-3", "runs-30", "runs-40"}
    defaults = yaml.safe_load((lead / "params.yaml").read_text())["benchmark"]
    for name, data in experiments.items():
        benchmark = data["metrics"]["metrics/benchmark.json"]["data"]
        runs, warmup = (defaults["runs"], 3) if name == "warm-3" else (int(name[5:]), defaults["warmup"])
        assert benchmark["runs"] == runs and benchmark["int8"]["p95_ms"] > 0
        assert data["params"]["params.yaml"]["data"]["benchmark"]["warmup"] == warmup  # nothing carried over
    run(["dvc", "exp", "apply", "runs-40"], lead)  # its outputs came through the DVC remote
    assert json.loads((lead / "metrics/benchmark.json").read_text())["runs"] == 40
    assert (lead / "models/tflite/int8.tflite").is_file()


def test_a_bad_worker_index_is_one_line(pipeline_project: Path, tmp_path: Path):
    (tmp_path / "batch.txt").write_text("a -S benchmark.runs=5\n")
    result = subprocess.run(
        ["bash", "scripts/exp_worker.sh", str(tmp_path / "batch.txt"), "2", "2"],
        cwd=pipeline_project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error [exp_worker]: worker index must be 0..WORKER_COUNT-1, got 2 of 2"
