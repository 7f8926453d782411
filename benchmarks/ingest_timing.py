"""Time the map_labels stage (decode + map + save) on a full FER-2013 file.

    python -m benchmarks.ingest_timing --archive ../shared/datasets/fer2013.zip [--archive fer2013.csv]

Target (issue: real data in): the full FER-2013 through map_labels in < 30 s on a 2-core CPU:
35,887 faces in the challenge CSV and in Kaggle's zip; 32,298 in the copy under ../shared, whose
test folder holds PrivateTest only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.project_copy import copy_project, run
from benchmarks.script import fer2013_archive, one_line_errors, stage_errors
from stressvision.download import copy_local_archive
from stressvision.errors import DataError

TARGET_S = 30.0


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--archive", action="append", required=True, type=fer2013_archive, help="FER-2013 zip or CSV"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp) / "project")
        for archive in args.archive:
            raw = project / "data/raw"
            for old in raw.glob("fer2013.*"):
                old.unlink()
            copy_local_archive(archive, raw)
            started = time.perf_counter()
            result = run(
                [
                    "python",
                    "-m",
                    "stages.map_labels",
                    "--raw",
                    "data/raw",
                    "--custom",
                    "data/custom",
                    "--out",
                    "data/mapped",
                    "--metrics",
                    "metrics/data/map_labels.json",
                ],
                project,
                check=False,
            )
            if result.returncode != 0:
                lines = stage_errors(result.stderr) or result.stderr.strip().splitlines()[-1:]
                raise DataError(f"{archive}: map_labels exited {result.returncode}: {'; '.join(lines)}")
            seconds = time.perf_counter() - started
            report = json.loads((project / "metrics/data/map_labels.json").read_text())
            n_source = sum(report["source"].values())
            rows.append((Path(archive).name, n_source, report["n"], seconds))
            print(f"ingest_timing: {archive}: {n_source} faces in {seconds:.1f} s", flush=True)
    print()
    header = f"{'file':24s} {'faces':>7s} {'mapped':>7s} {'seconds':>8s} {'faces/s':>8s}"
    print(f"{header}  target < {TARGET_S:.0f} s")
    for name, n_source, n_mapped, seconds in rows:
        verdict = "PASS" if seconds < TARGET_S else "MISS"
        print(f"{name:24s} {n_source:7d} {n_mapped:7d} {seconds:8.1f} {n_source / seconds:8.0f}  {verdict}")


if __name__ == "__main__":
    main()
