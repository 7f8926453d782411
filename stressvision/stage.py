"""What every stage script shares: one-line errors instead of tracebacks, and quiet TF logs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from stressvision.errors import StressVisionError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_stage(name: str, main: Callable[[], None], rerun: str = "rerun `dvc repro`") -> None:
    """Run a stage's (or a script's) main(); a user-fixable error prints one line and exits with
    status 2, Ctrl-C one line ending in `rerun` and status 130."""
    try:
        main()
    except StressVisionError as exc:
        print(f"error [{name}]: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"error [{name}]: interrupted; no output was half-written, {rerun}", file=sys.stderr)
        sys.exit(130)


def stage_args(description: str, *paths: str) -> argparse.Namespace:
    """Parse the `--<path> VALUE` options a stage takes; dvc.yaml passes them from its `vars`."""
    parser = argparse.ArgumentParser(description=description)
    for name in paths:
        parser.add_argument(f"--{name}", required=True, metavar="PATH")
    return parser.parse_args()
