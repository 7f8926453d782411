"""Time `dvc repro` from scratch and with nothing changed, on a scratch copy of the project.

    python -m benchmarks.pipeline_timing            # the default params.yaml (built-in sample)

Targets (issue: pipeline backbone): from scratch < 300 s, nothing changed < 5 s, 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

from benchmarks.project_copy import copy_project, run

FROM_SCRATCH_TARGET_S = 300.0
NO_CHANGE_TARGET_S = 5.0


def timed_repro(project: Path, force: bool = False) -> tuple[float, list[str]]:
    started = time.perf_counter()
    result = run(["dvc", "repro", *(["--force"] if force else [])], project)
    return time.perf_counter() - started, re.findall(r"Running stage '([^']+)'", result.stdout)


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp))
        print(f"pipeline_timing: dvc repro from scratch in {project} ({os.cpu_count()} CPUs)", flush=True)
        # --force: a deterministic run would otherwise skip stages whose committed outputs match
        scratch_s, stages = timed_repro(project, force=True)
        print(f"pipeline_timing: ran {len(stages)} stages: {', '.join(stages)}", flush=True)
        again_s, rerun = timed_repro(project)
        evaluate = json.loads((project / "metrics/evaluate.json").read_text())
        bench = json.loads((project / "metrics/benchmark.json").read_text())
    print()
    print(f"{'measure':34s} {'seconds':>8s} {'target':>8s}  result")
    for name, value, target in (
        ("dvc repro from scratch", scratch_s, FROM_SCRATCH_TARGET_S),
        ("dvc repro, nothing changed", again_s, NO_CHANGE_TARGET_S),
    ):
        print(f"{name:34s} {value:8.1f} {target:8.0f}  {'PASS' if value < target else 'MISS'}")
    print(f"stages rerun with nothing changed: {rerun or 'none'}")
    print(
        f"test accuracy (keras) {evaluate['accuracy']:.4f}, macro F1 {evaluate['f1_macro']:.4f}, "
        f"n={evaluate['n']}; {bench['kpi']['variant']} p95 {bench[bench['kpi']['variant']]['p95_ms']} ms"
    )


if __name__ == "__main__":
    main()
