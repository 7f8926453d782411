"""What every stage script shares: one-line errors instead of tracebacks, and quiet TF logs."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from stressvision.errors import StressVisionError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_stage(name: str, main: Callable[[], None], rerun: str = "rerun `dvc repro`") -> None:
    """Run a stage's (or a script's) main(); a user-fixable error prints one line and exits with
    status 2, Ctrl-C one line ending in `rerun` and status 130.

    Ctrl-C is noted as it arrives: one that lands inside a C extension's import (numpy's, while
    Keras loads) comes out as an ImportError that blames the install, not as KeyboardInterrupt,
    and must still be the one line, not that page of traceback; one swallowed whole must still
    stop the run (DVC ignores Ctrl-C while a stage runs and would go on to the next).
    """
    interrupted = False

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    # only a Python-level handler is replaced: an ignored SIGINT (a nohup'd job) stays ignored
    watch = threading.current_thread() is threading.main_thread() and callable(
        signal.getsignal(signal.SIGINT)
    )
    previous = signal.signal(signal.SIGINT, on_sigint) if watch else None
    try:
        main()
        if interrupted:  # swallowed whole (a KeyboardInterrupt "ignored" in a __del__): still stop
            raise KeyboardInterrupt
    except BaseException as exc:
        if interrupted or isinstance(exc, KeyboardInterrupt):
            print(f"error [{name}]: interrupted; no output was half-written, {rerun}", file=sys.stderr)
            sys.exit(130)
        if isinstance(exc, StressVisionError):
            print(f"error [{name}]: {exc}", file=sys.stderr)
            sys.exit(2)
        raise
    finally:
        if watch:
            signal.signal(signal.SIGINT, previous)


def stage_args(description: str, *paths: str) -> argparse.Namespace:
    """Parse the `--<path> VALUE` options a stage takes; dvc.yaml passes them from its `vars`."""
    parser = argparse.ArgumentParser(description=description)
    for name in paths:
        parser.add_argument(f"--{name}", required=True, metavar="PATH")
    return parser.parse_args()
