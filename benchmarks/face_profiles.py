"""Train and score the named profiles on a FER-2013 archive, one scratch copy each.

    python -m benchmarks.face_profiles --archive /path/to/fer2013.zip --profiles real_default
    python -m benchmarks.face_profiles --archive fer2013.zip --profiles realtime balanced --epochs 2

Each profile runs as the user would run it (`dvc exp run -S ...` from profiles/NAME.yaml,
plus the archive and the optional epoch override) in a fresh git copy of this checkout;
the whole `dvc repro` log goes to --logs. Prints one row per profile: model, input size,
parameters, Keras and INT8 test accuracy (the INT8 one with the profile's `quantize.tta`, named),
INT8 size, INT8 p95 latency per face, train and total time. A profile that fails prints its
stage's `error [...]` line, and the script then exits 2, so no row of dashes passes for a result.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.project_copy import copy_project, tool_env
from benchmarks.script import fer2013_archive, one_line_errors, positive_int, stage_errors
from stressvision.errors import StressVisionError
from stressvision.params import load_params
from stressvision.profiles import exp_run_command, load_profile

FACE_PROFILES = ("real_default", "realtime", "balanced", "max_accuracy")  # the face use cases
FACE_TARGETS = ("evaluate", "benchmark")  # with their upstream stages: the whole face pipeline
COLUMNS = (
    ("profile", 14, "s"),
    ("model", 18, "s"),
    ("input", 5, "d"),
    ("params", 11, ","),
    ("float_acc", 9, ".4f"),
    ("int8_acc", 8, ".4f"),
    ("int8_tta", 9, "s"),
    ("int8_mb", 8, ".3f"),
    ("p95_ms", 7, ".3f"),
    ("train_min", 9, ".1f"),
    ("repro_min", 9, ".1f"),
)
PROGRESS_EVERY_S = 60  # a profile can train for an hour: say where it is this often
PROGRESS_LINE = re.compile(r"(train: |Running stage )")


def row_text(row: dict) -> str:
    cells = []
    for name, width, fmt in COLUMNS:
        value = row.get(name)
        text = "-" if value is None else format(value, fmt)
        cells.append(text.ljust(width) if fmt == "s" else text.rjust(width))
    return "  ".join(cells)


def wait_reporting(process: subprocess.Popen, name: str, log: Path, started: float) -> int:
    """Wait for `dvc exp run`, printing the log's latest stage or `train:` line whenever it changed."""
    shown = None
    while True:
        try:
            return process.wait(timeout=PROGRESS_EVERY_S)
        except subprocess.TimeoutExpired:
            lines = [
                line for line in log.read_text(errors="replace").splitlines() if PROGRESS_LINE.match(line)
            ]
            if lines and lines[-1] != shown:
                shown = lines[-1]
                minutes = (time.perf_counter() - started) / 60
                print(f"face_profiles: {name}: {minutes:.0f} min: {shown}", flush=True)


def run_profile(name: str, archive: Path, epochs: int | None, workdir: Path, log: Path) -> dict:
    project = copy_project(workdir / name)
    overrides = {"download.source": "fer2013", "download.fer2013_archive": str(archive)}
    if epochs is not None:  # a quick run: the cosine warm-up must still fit
        profile = load_profile(name)
        warmup = profile.get(
            "train.warmup_epochs", load_params(project / "params.yaml")["train"]["warmup_epochs"]
        )
        overrides |= {"train.epochs": epochs, "train.warmup_epochs": min(warmup, epochs - 1)}
    # the face stages only: other pipelines in dvc.yaml (voice) are not part of a face profile
    command = exp_run_command(name, FACE_TARGETS, params_file=project / "params.yaml", overrides=overrides)
    print(f"face_profiles: {name}: started {time.strftime('%H:%M')}: {' '.join(command)}", flush=True)
    print(f"face_profiles: {name}: log {log}", flush=True)
    started = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=project, env=tool_env(), stdout=out, stderr=subprocess.STDOUT)
        returncode = wait_reporting(process, name, log, started)
    seconds = time.perf_counter() - started
    if returncode != 0:
        print(f"face_profiles: {name}: dvc exp run exited {returncode}; see {log}", flush=True)
        for line in stage_errors(log.read_text(errors="replace")):
            print(f"face_profiles: {name}: {line}", flush=True)
        return {"profile": name}
    print(f"face_profiles: {name}: done in {seconds / 60:.1f} min", flush=True)
    metrics = {p.stem: json.loads(p.read_text()) for p in (project / "metrics").glob("*.json")}
    config = json.loads((project / "models/keras/model_config.json").read_text())
    return {
        "profile": name,
        "model": config["model"],
        "input": config["model_input_size"],
        "params": metrics["train"]["params"],
        "float_acc": metrics["evaluate"]["accuracy"],
        "int8_acc": metrics["quantize"].get("int8", {}).get("accuracy"),
        "int8_tta": metrics["benchmark"].get("tta", "none"),  # the views int8_acc and p95_ms are of
        "int8_mb": metrics["quantize"].get("int8", {}).get("size_mb"),
        "p95_ms": metrics["benchmark"].get("int8", {}).get("p95_ms"),
        "train_min": metrics["train"]["train_seconds"] / 60,
        "repro_min": seconds / 60,
        "epochs_run": metrics["train"]["epochs_run"],
    }


@one_line_errors
def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--archive", required=True, type=fer2013_archive, help="fer2013.zip or fer2013.csv")
    parser.add_argument("--profiles", nargs="+", default=FACE_PROFILES, choices=FACE_PROFILES, metavar="NAME")
    parser.add_argument(
        "--epochs", type=positive_int, help="override train.epochs (a quick run, not the profile)"
    )
    parser.add_argument("--logs", type=Path, default=Path("logs/face_profiles"), help="dvc logs here")
    parser.add_argument("--keep", type=Path, help="keep each project copy (its models) in this folder")
    args = parser.parse_args()
    archive = args.archive
    if len(set(args.profiles)) < len(args.profiles):
        parser.error("--profiles: a profile is named twice")
    for name in args.profiles if args.keep else []:  # copying into an old copy would fail mid-run
        copy = args.keep / name
        if copy.is_file() or (copy.is_dir() and any(copy.iterdir())):
            parser.error(f"--keep: {copy} is not empty (an earlier copy?); remove it or give another folder")
    args.logs.mkdir(parents=True, exist_ok=True)

    rows = []
    logs = args.logs.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep.resolve() if args.keep else Path(tmp)
        for name in args.profiles:
            rows.append(run_profile(name, archive, args.epochs, workdir, logs / f"{name}.log"))
            print(f"face_profiles: {row_text(rows[-1])}", flush=True)
    print()
    print(f"archive {archive}" + (f", train.epochs overridden to {args.epochs}" if args.epochs else ""))
    print("  ".join(name.ljust(width) if fmt == "s" else name.rjust(width) for name, width, fmt in COLUMNS))
    for row in rows:
        print(row_text(row))
    failed = [row["profile"] for row in rows if "model" not in row]
    if failed:
        raise StressVisionError(f"{', '.join(failed)} failed; the lines above and the logs in {logs} say why")


if __name__ == "__main__":
    main()
