"""What the benchmark scripts share: one-line errors for inputs the user can fix, checked counts,
the labelled faces the face-accuracy scripts draw."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stressvision.download import raw_file_name
from stressvision.errors import DataError, StressVisionError


def fail(message: str) -> None:
    """Stop with one line on stderr and status 2, as the stages and `stressvision` do."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def one_line_errors(main: Callable[[], None]) -> Callable[[], None]:
    """Wrap a script's main(): a bad input file or value is one `error:` line, not a traceback."""

    @functools.wraps(main)
    def wrapped() -> None:
        try:
            main()
        except StressVisionError as exc:
            fail(str(exc))
        except OSError as exc:  # a missing or unreadable file: the system's reason, with its name
            fail(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc))

    return wrapped


def positive_int(text: str) -> int:
    """argparse type for counts (runs, steps, epochs): zero would time or train nothing."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def fer2013_archive(text: str) -> Path:
    """argparse type for a FER-2013 zip or CSV: a wrong path is one usage line before any copy or run."""
    path = Path(text).resolve()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file; give a FER-2013 zip or fer2013.csv")
    try:
        raw_file_name(path)
    except StressVisionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return path


def stage_errors(output: str) -> list[str]:
    """A failed `dvc repro` or stage's cause: its `error [stage]: ...` lines, else DVC's ERROR lines."""
    lines = output.splitlines()
    return [line for line in lines if line.startswith("error [")] or [
        line for line in lines if line.startswith("ERROR")
    ]


def draw_faces(
    root: Path, model, per_class: int | None, rng: np.random.Generator
) -> tuple[list[Path], np.ndarray]:
    """Up to `per_class` images (None: all) of each folder of `root` the model has a class for,
    drawn by `rng`, with their class ids."""
    from stressvision.edge import labelled_faces  # here: the other scripts need no image code

    paths, labels, *_ = labelled_faces(root, model)
    if not paths:
        raise DataError(f"{root}: no images in folders named after the model's classes or source emotions")
    if per_class is None:
        return paths, labels
    folders = np.array([p.relative_to(root).parts[0] for p in paths])
    chosen = []
    for folder in sorted(set(folders)):
        index = np.flatnonzero(folders == folder)
        chosen += sorted(rng.choice(index, min(per_class, len(index)), replace=False))
    return [paths[i] for i in chosen], labels[chosen]


def face_set_parser(doc: str | None, per_class: int | None) -> argparse.ArgumentParser:
    """A face-accuracy script's parser (its docstring kept as written) with --model (repeatable),
    --data, --per-class and --seed: the faces `draw_faces` draws."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", action="append", required=True, help="a face model; repeat for an ensemble"
    )
    parser.add_argument("--data", required=True, type=Path, help="a folder of class (or emotion) folders")
    parser.add_argument(
        "--per-class",
        type=positive_int,
        default=per_class,
        help=f"faces drawn per folder (default {per_class or 'every face'})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random draws (default 0)")
    return parser
