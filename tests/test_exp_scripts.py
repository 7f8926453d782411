"""scripts/exp_worker.sh and exp_table.sh on their own, with a stand-in for dvc where DVC's part
is not the point."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from benchmarks.project_copy import tool_env
from tests.conftest import ROOT, git, run

WORKER = ROOT / "scripts" / "exp_worker.sh"
TABLE = ROOT / "scripts" / "exp_table.sh"

# A stand-in for dvc that logs its arguments and fails `dvc exp run` of an experiment named bad*.
FAKE_DVC = """#!/usr/bin/env bash
echo "$*" >>"$DVC_LOG"
[[ "$1 $2" == "exp run" && "$5" == bad* ]] && exit 1
exit 0
"""


def fake_dvc(tmp_path: Path) -> dict[str, str]:
    """An environment whose `dvc` is FAKE_DVC, logging to tmp_path/dvc.log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dvc").write_text(FAKE_DVC)
    (bin_dir / "dvc").chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{tool_env()['PATH']}", "DVC_LOG": str(tmp_path / "dvc.log")}


def run_worker(project: Path, batch: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    (project / "batch.txt").write_text(batch)
    return subprocess.run(
        ["bash", str(WORKER), "batch.txt", "0", "1"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**tool_env(), **(env or {})},
    )


def test_a_failing_experiment_is_named_and_the_rest_still_run(tmp_path: Path):
    env = fake_dvc(tmp_path)
    result = run_worker(tmp_path, "bad-one -S benchmark.runs=0\ngood -S benchmark.runs=30\n", env)

    calls = Path(env["DVC_LOG"]).read_text().splitlines()
    assert "exp run --temp -n good -S benchmark.runs=30" in calls  # not stopped by bad-one
    assert "exp push origin good" in calls and "exp push origin bad-one" not in calls
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error [exp_worker]: 1 experiment(s) failed, the others were pushed: bad-one"
    )


def test_credentials_in_the_committed_config_stop_the_worker_in_one_line(tmp_path: Path):
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    run(["dvc", "remote", "add", "-d", "team", "s3://bucket/stressvision"], tmp_path)
    run(["dvc", "remote", "modify", "--local", "team", "secret_access_key", "kept-local"], tmp_path)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "a DVC project")
    assert run_worker(tmp_path, "").returncode == 0  # config.local is never committed: fine

    run(["dvc", "remote", "modify", "team", "secret_access_key", "s3cr3t"], tmp_path)
    result = run_worker(tmp_path, "a -S benchmark.runs=5\n")

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error [exp_worker]: .dvc/config holds remote.team.secret_access_key, which every experiment "
        "commit would push to origin; move it to .dvc/config.local (dvc remote modify --local ...)"
    )
    assert "s3cr3t" not in result.stderr


def test_the_table_keeps_the_size_and_latency_of_both_branches(tmp_path: Path):
    env = fake_dvc(tmp_path)
    subprocess.run(["bash", str(TABLE), "--csv"], cwd=tmp_path, env={**tool_env(), **env}, check=True)
    args = Path(env["DVC_LOG"]).read_text().split()
    keep = re.compile(args[args.index("--keep") + 1])  # dvc exp show keeps the columns it matches
    for column in (
        "metrics/quantize.json:int8.size_mb",
        "metrics/voice/quantize.json:int8.size_mb",
        "metrics/voice/quantize.json:features_size_mb",  # every voice variant runs features.tflite
        "features_size_mb",  # as dvc names a column whose name is unique
        "metrics/benchmark.json:int8.p95_ms",
        "metrics/voice/benchmark.json:int8.p95_ms",
        "metrics/voice/evaluate.json:accuracy",
    ):
        assert keep.match(column), column
