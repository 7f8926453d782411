"""Reading params.yaml with checks that name the offending key in one line."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from stressvision.errors import ParamsError

PARAMS_FILE = "params.yaml"
SEED_MAX = 2**32 - 1  # numpy's legacy and Keras' set_random_seed take no more (nor a negative one)


class YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader reading numbers and booleans as YAML 1.2 does, as DVC does (`dvc
    params diff`, `exp show`): PyYAML alone reads `1e-3` (no dot) as a string, which a stage
    refused, and `yes`/`off` as booleans, which DVC shows as the strings they are."""


BOOL_TAG = "tag:yaml.org,2002:bool"
YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver(
    BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def yaml_load(text: str) -> Any:
    """Parse YAML text (params.yaml, a profile, a `-S` value) as DVC reads it."""
    return yaml.load(text, Loader=YamlLoader)  # a SafeLoader: no Python objects


def load_params(path: str | os.PathLike = PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ParamsError(str(path), "file not found; run from the project root")
    try:
        params = yaml_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ParamsError(str(path), f"not valid YAML{where}") from None
    if not isinstance(params, dict):
        raise ParamsError(str(path), "must be a mapping of sections")
    return params


class Section:
    """Typed, checked access to one section of params.yaml (e.g. `train`).

    Every getter names the full key (`train.epochs`) in its error; `check_no_extra_keys`
    catches typos such as `train.epoch`, which would otherwise be silently ignored.
    """

    def __init__(self, name: str, values: Any):
        if not isinstance(values, dict):
            raise ParamsError(name, "missing section or not a mapping")
        self.name = name
        self.values = values
        self._read: set[str] = set()

    @classmethod
    def load(cls, name: str, path: str | os.PathLike = PARAMS_FILE) -> Section:
        return cls(name, load_params(path).get(name))

    def key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def raw(self, key: str, default: Any = ...) -> Any:
        self._read.add(key)
        if key not in self.values:
            if default is ...:
                raise ParamsError(self.key(key), "missing")
            return default
        return self.values[key]

    def sub(self, key: str) -> Section:
        return Section(self.key(key), self.raw(key))

    def bool(self, key: str, default: Any = ...) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise ParamsError(self.key(key), f"expected true or false, got {value!r}")
        return value

    def int(
        self, key: str, default: Any = ..., *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(self.key(key), f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise ParamsError(self.key(key), f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ParamsError(self.key(key), f"must be <= {maximum}, got {value}")
        return value

    def seed(self, key: str = "seed") -> int:
        """A random seed: numpy raises a traceback on a negative one, Keras on one over SEED_MAX."""
        return self.int(key, minimum=0, maximum=SEED_MAX)

    def float(
        self,
        key: str,
        default: Any = ...,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(self.key(key), f"expected a number, got {value!r}")
        if minimum is not None and value < minimum:
            raise ParamsError(self.key(key), f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ParamsError(self.key(key), f"must be <= {maximum}, got {value}")
        return float(value)

    def str(self, key: str, default: Any = ...) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value:
            raise ParamsError(self.key(key), f"expected a non-empty string, got {value!r}")
        return value

    def choice(self, key: str, options: list[str] | tuple[str, ...], default: Any = ...) -> str:
        value = self.raw(key, default)
        if value not in options:
            raise ParamsError(self.key(key), f"unknown value {value!r}; choose one of: {', '.join(options)}")
        return value

    def str_list(self, key: str, default: Any = ..., *, allowed: tuple[str, ...] = ()) -> list[str]:
        value = self.raw(key, default)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ParamsError(self.key(key), f"expected a non-empty list of names, got {value!r}")
        if len(set(value)) != len(value):
            raise ParamsError(self.key(key), f"names repeat: {value}")
        unknown = [v for v in value if allowed and v not in allowed]
        if unknown:
            raise ParamsError(self.key(key), f"unknown {unknown[0]!r}; choose from: {', '.join(allowed)}")
        return value

    def float_list(
        self, key: str, default: Any = ..., *, minimum: float | None = None, maximum: float | None = None
    ) -> list[float]:
        """A list of numbers, each in [minimum, maximum], none repeated; empty is allowed (off)."""
        value = self.raw(key, default)
        numbers = isinstance(value, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        )
        if not numbers:
            raise ParamsError(self.key(key), f"expected a list of numbers like [0.9, 1.1], got {value!r}")
        for v in value:
            if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
                raise ParamsError(self.key(key), f"each value must be in [{minimum}, {maximum}], got {v}")
        if len(set(value)) != len(value):
            raise ParamsError(self.key(key), f"values repeat: {value}")
        return [float(v) for v in value]

    def check_no_extra_keys(self) -> None:
        extra = sorted(set(self.values) - self._read)
        if extra:
            raise ParamsError(self.key(extra[0]), "unknown key (a typo?); see README for the keys")
