"""Errors a user can act on: stage scripts print them as one line instead of a traceback."""

from collections.abc import Sequence


class StressVisionError(Exception):
    """Base class: the message alone must tell the user what is wrong and what to do."""


class ParamsError(StressVisionError):
    """A value in params.yaml is missing, of the wrong type or out of range."""

    def __init__(self, key: str, problem: str):
        self.key = key
        super().__init__(f"params.yaml: {key}: {problem}")


class DataError(StressVisionError):
    """Input data is unusable (missing, corrupt or empty)."""


def a_few(names: Sequence[str], most: int = 3) -> str:
    """The first `most` of `names` and how many more, for a one-line message."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more
