"""Atomic file writes: a stage that is interrupted never leaves a half-written output, and the
next write clears what a killed one left beside it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _as_if_created(path: Path, mode: int) -> None:
    """mkstemp/mkdtemp make owner-only (0600/0700) files: give the mode a plain open or mkdir
    would have given, so outputs others read (a shared cache, a model folder) stay readable."""
    os.chmod(path, mode & ~_umask())


def _remove_stale(parent: Path, prefix: str, suffix: str, target: Path | None = None) -> None:
    """Remove what a killed earlier write (SIGKILL, power loss) left beside its target: the
    temporary `prefix` + 8 random characters + `suffix` file or folder, and an `.old` folder.
    .gitignore hides them meanwhile (`.*.tmp`, `.*.tmp.*`), which may be long: DVC restores an
    unchanged stage from its run-cache instead of running it, so a metrics file's would stay.

    An `.old` folder with `target` missing is a kill between moving the old folder aside and
    the new one in: it is put back rather than removed, so the old version is not lost."""
    stale = re.compile(rf"{re.escape(prefix)}[a-z0-9_]{{8}}{re.escape(suffix)}(\.old)?")
    for leftover in sorted(parent.iterdir()):
        if stale.fullmatch(leftover.name):
            if target is not None and leftover.name.endswith(".old") and not target.exists():
                os.replace(leftover, target)
            elif leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path.parent, f".{path.stem}.", f".tmp{path.suffix}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.is_file():
            _as_if_created(tmp_path, 0o666)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new temporary folder beside `path`; it replaces `path` (a folder of files that
    belong together, like a model bundle) only if the block succeeds, else it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path.parent, f".{path.name}.", ".tmp", target=path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    old = path.with_name(f"{tmp.name}.old")
    try:
        yield tmp
        _as_if_created(tmp, 0o777)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        # a Ctrl-C between the two renames must not lose the old folder: put it back
        if old.exists() and not path.exists():
            os.replace(old, path)
        elif old.exists():
            shutil.rmtree(old)
        if tmp.exists():
            shutil.rmtree(tmp)


def size_mb(path: str | os.PathLike) -> float:
    """A file's size in MiB to 4 decimals, as every size metric reports it."""
    return round(Path(path).stat().st_size / 2**20, 4)


def write_json(path: str | os.PathLike, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Save named arrays as one uncompressed .npz (fast to load, DVC-cacheable)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
