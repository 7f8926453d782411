"""Named profiles: param overrides for the product's use cases, applied with `dvc exp run -S`.

A profile is `profiles/<name>.yaml` holding only the params it changes, as nested sections
of params.yaml or dotted keys (`train.model: resnet18`). Applying it is one command:

    bash scripts/run_profile.sh balanced                 # = python -m stressvision.profiles run balanced
    bash scripts/run_profile.sh realtime --queue         # extra arguments go to `dvc exp run`
    python -m stressvision.profiles show max_accuracy    # print the command, run nothing

Every key must exist in params.yaml, so a typo fails with one line instead of being ignored.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from stressvision.errors import StressVisionError
from stressvision.params import PARAMS_FILE, load_params, yaml_load

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"


class ProfileError(StressVisionError):
    """A profile is missing, not a mapping, or sets a key that params.yaml does not have."""


def available(profiles_dir: str | os.PathLike = PROFILES_DIR) -> list[str]:
    return sorted(p.stem for p in Path(profiles_dir).glob("*.yaml"))


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"model": "x"}, "train.epochs": 3} -> {"train.model": "x", "train.epochs": 3}."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def load_profile(name: str, profiles_dir: str | os.PathLike = PROFILES_DIR) -> dict[str, Any]:
    """The profile's overrides as dotted keys."""
    path = Path(profiles_dir) / f"{name}.yaml"
    if not path.is_file():
        names = ", ".join(available(profiles_dir)) or "none"
        raise ProfileError(f"no profile {name!r} ({path} does not exist); profiles: {names}")
    try:
        values = yaml_load(path.read_text()) or {}
    except yaml.YAMLError:
        raise ProfileError(f"{path}: not valid YAML") from None
    if not isinstance(values, dict):
        raise ProfileError(f"{path}: must be a mapping of params.yaml keys to values")
    return flatten(values)


def check_keys(overrides: dict[str, Any], params: dict[str, Any], source: str) -> None:
    """Each dotted key must name an existing leaf (or list) of params.yaml, not a section."""
    for dotted, value in overrides.items():
        node: Any = params
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ProfileError(f"{source}: {dotted}: not a key of params.yaml (a typo?)")
            node = node[part]
        if isinstance(node, dict) and not isinstance(value, dict):
            raise ProfileError(f"{source}: {dotted}: a section of params.yaml, set its keys instead")


def apply_overrides(params: dict[str, Any], overrides: dict[str, Any], source: str) -> dict[str, Any]:
    """Set each dotted key of `overrides` in `params` (in place, returned), as `dvc exp run -S`
    would; a key that params.yaml lacks is a ProfileError naming `source`."""
    check_keys(overrides, params, source)
    for dotted, value in overrides.items():
        node = params
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return params


def parse_overrides(items: list[str], flag: str, example: str, prefix: str = "") -> dict[str, Any]:
    """`KEY=VALUE` arguments as dotted keys (`prefix` + KEY) to values, each value read as YAML
    as DVC's -S reads it; an item without `=` is a ProfileError naming `flag` and `example`."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ProfileError(f"{flag} {item}: expected KEY=VALUE, e.g. {example}")
        try:
            overrides[prefix + key] = yaml_load(value)
        except yaml.YAMLError:
            raise ProfileError(f"{flag} {item}: {value!r} is not a YAML value (quote strings)") from None
    return overrides


def yaml_value(value: Any) -> str:
    """The value as DVC's -S parses it: YAML in flow style (`[0.9, 1.1]`, `''`, `true`)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def set_args(overrides: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for key, value in overrides.items():
        args += ["-S", f"{key}={yaml_value(value)}"]
    return args


def _set_param_values(extra: list[str] | tuple[str, ...]) -> list[tuple[int, str, str]]:
    """(index in `extra`, prefix, KEY=VALUE) of each `-S KEY=VALUE`, `-SKEY=VALUE`,
    `--set-param KEY=VALUE` or `--set-param=KEY=VALUE` argument."""
    found = []
    for i, arg in enumerate(extra):
        if arg in ("-S", "--set-param") and i + 1 < len(extra):
            found.append((i + 1, "", extra[i + 1]))
        elif arg.startswith("--set-param="):
            found.append((i, "--set-param=", arg.partition("=")[2]))
        elif arg.startswith("-S") and len(arg) > 2:
            found.append((i, "-S", arg[2:]))
    return found


def set_param_keys(extra: list[str] | tuple[str, ...]) -> list[str]:
    """The params.yaml keys that `-S KEY=VALUE` / `--set-param KEY=VALUE` arguments set.

    DVC's other forms (`+KEY` to add, `~KEY` to delete, `FILE:KEY` for another params file)
    are left to DVC.
    """
    keys = []
    for _, _, value in _set_param_values(extra):
        file, _, key = value.partition("=")[0].rpartition(":")
        if file in ("", PARAMS_FILE) and key and key[0] not in "+~":
            keys.append(key)
    return keys


def expand_home(extra: list[str] | tuple[str, ...]) -> list[str]:
    """`-S KEY=~/path` with the home folder written out: the shell leaves a `~` after `=`
    alone, and DVC's override parser (Hydra) stops at it with a multi-line lexer error."""
    expanded = list(extra)
    for i, prefix, value in _set_param_values(extra):
        key, sep, path = value.partition("=")
        if sep and (path == "~" or path.startswith("~/")):
            expanded[i] = f"{prefix}{key}={os.path.expanduser(path)}"
    return expanded


def exp_run_command(
    name: str,
    extra: list[str] | tuple[str, ...] = (),
    profiles_dir: str | os.PathLike = PROFILES_DIR,
    params_file: str | os.PathLike = PARAMS_FILE,
    overrides: dict[str, Any] | None = None,
) -> list[str]:
    """`dvc exp run -S ... EXTRA` for profile `name`, its keys and EXTRA's `-S` keys checked
    against params_file (DVC's own refusal of an unknown key is a four-line traceback).

    `overrides` (dotted keys) replace the profile's values, so each key is set once.
    """
    values = load_profile(name, profiles_dir) | (overrides or {})
    params = load_params(params_file)
    check_keys(values, params, f"profiles/{name}.yaml")
    check_keys(dict.fromkeys(set_param_keys(extra)), params, "-S")
    return ["dvc", "exp", "run", *set_args(values), *expand_home(extra)]


def main(argv: list[str] | None = None) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("action", choices=("run", "show", "list"))
    parser.add_argument("name", nargs="?", help="profile name (profiles/NAME.yaml)")
    args, extra = parser.parse_known_args(argv)
    try:
        if args.action == "list":
            print("\n".join(available()))
            return
        if not args.name:
            raise ProfileError(f"name a profile: {', '.join(available())}")
        command = exp_run_command(args.name, extra)
    except StressVisionError as exc:
        print(f"error [profile]: {exc}", file=sys.stderr)
        sys.exit(2)
    print(shlex.join(command), flush=True)
    if args.action == "run":
        try:
            os.execvp(command[0], command)
        except FileNotFoundError:  # a new shell without the environment activated
            print(
                f"error [profile]: {command[0]}: command not found; activate the environment that has it "
                "(. .venv/bin/activate)",
                file=sys.stderr,
            )
            sys.exit(2)


if __name__ == "__main__":
    main()
