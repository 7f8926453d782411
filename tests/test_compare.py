"""The comparison page's tables and its error line (the page itself: test_pipeline)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stressvision.compare import diff_table, markdown_key_metrics
from tests.conftest import ROOT, git, run


def change(old: float, new: float) -> dict:
    return {"old": old, "new": new, "diff": new - old}


def test_changes_are_coloured_by_which_way_is_better():
    metrics = {
        "metrics/benchmark.json": {
            "kpi.latency_p95_ms.value": change(0.53, 0.04),  # faster: better
            "kpi.size_mb.value": change(1.2, 1.5),  # bigger: worse
            "int8.p95_ms": change(0.53, 0.04),
            "kpi.accuracy.value": change(0.80, 0.82),  # higher: better
        }
    }
    rows = {
        row.split("</td>")[1].removeprefix("<td>"): row
        for row in diff_table(metrics, "main", "M").split("<tr>")[2:]
    }
    assert 'class="num up"' in rows["kpi.latency_p95_ms.value"] and 'class="num up"' in rows["int8.p95_ms"]
    assert 'class="num down"' in rows["kpi.size_mb.value"] and 'class="num up"' in rows["kpi.accuracy.value"]
    params = diff_table({"params.yaml": {"train.input_size": change(120, 96)}}, "main", "Params", judge=False)
    assert "train.input_size" in params and "num up" not in params and "num down" not in params


def test_the_markdown_headline_keeps_unchanged_kpis_and_says_which_way_changes_go():
    metrics = {  # as `dvc metrics diff --all --json` gives them: unchanged entries have no diff
        "metrics/benchmark.json": {
            "kpi.all_pass": {"old": False, "new": False},
            "kpi.size_mb.value": change(1.2, 1.5),
            "int8.p95_ms": change(0.53, 0.04),
            "int8.fps": change(100.0, 200.0),  # not a deciding metric: left to the full table
        },
        "metrics/voice/evaluate.json": {"accuracy": {"old": 0.8280, "new": 0.8280, "diff": 0}},
        "metrics/train.json": {"train_seconds": change(60.0, 50.0)},
    }
    assert markdown_key_metrics(metrics, "main").splitlines() == [
        "| file | metric | main | workspace | change |",
        "| --- | --- | ---: | ---: | ---: |",
        "| metrics/benchmark.json | int8.p95_ms | 0.53 | 0.04 | -0.49 (better) |",
        "| metrics/benchmark.json | kpi.all_pass | False | False |  |",
        "| metrics/benchmark.json | kpi.size_mb.value | 1.2 | 1.5 | +0.3 (worse) |",
        "| metrics/voice/evaluate.json | accuracy | 0.828 | 0.828 |  |",
    ]
    assert markdown_key_metrics({}, "main") == "_no key metrics in either revision_"


def compare(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "stressvision.compare", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
    )


def test_a_bad_revision_is_one_line(tmp_path):
    git(tmp_path, "init", "-q")
    run(["dvc", "init", "-q"], tmp_path)
    git(tmp_path, "commit", "-q", "-m", "init")
    result = compare("mian", cwd=tmp_path)
    assert result.returncode == 1 and not (tmp_path / "dvc_plots").exists()
    assert result.stderr == "error: mian: not a git revision here (give a branch, tag or commit)\n"
    result = compare("HEAD", "--out", "page", cwd=tmp_path)  # nothing to compare: a page that says so
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "page/index.html").read_text()
    assert "No params changed against HEAD" in page and "No plots in either revision" in page
