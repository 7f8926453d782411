"""Source emotions and the mapping of them onto the target classes a model learns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stressvision.errors import DataError, ParamsError
from stressvision.params import Section

# The 7 FER-2013 emotions, in the order of the original challenge's label ids.
FER2013_EMOTIONS: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
)


# What a face model learns (`map_labels.learn`): the scheme's classes, or the finer units of
# `learned_units` whose probabilities it sums into the scheme's classes.
LEARN_MODES = ("classes", "emotions")


@dataclass(frozen=True)
class LabelMap:
    """Target classes and where each source emotion goes (None: left out)."""

    classes: tuple[str, ...]
    mapping: dict[str, str | None]

    def source_to_target_index(self, source_classes: tuple[str, ...]) -> np.ndarray:
        """Lookup table: source label id -> target class id, -1 for dropped emotions."""
        index = {name: i for i, name in enumerate(self.classes)}
        return np.array(
            [index[self.mapping[s]] if self.mapping.get(s) else -1 for s in source_classes],
            dtype=np.int16,
        )


def label_map_from_params(section: Section, source_classes: tuple[str, ...]) -> LabelMap:
    """Read `map_labels.scheme` and the scheme it names, checking every name against the source.

    The other schemes are checked too: a typo in one would otherwise surface only on the run
    that selects it (their edits rerun the stage all the same)."""
    schemes = section.raw("schemes")
    if not isinstance(schemes, dict) or not schemes:
        raise ParamsError(section.key("schemes"), "expected a mapping of named label schemes")
    name = section.choice("scheme", tuple(schemes))
    label_map = scheme_label_map(section, name, schemes[name], source_classes)
    for other in schemes:
        if other != name:
            scheme_label_map(section, other, schemes[other], source_classes)
    return label_map


def scheme_label_map(section: Section, name: str, values: Any, source_classes: tuple[str, ...]) -> LabelMap:
    """The LabelMap of `schemes.NAME`, every class and emotion name checked."""
    scheme = Section(section.key(f"schemes.{name}"), values)
    classes = tuple(scheme.str_list("classes"))
    raw_mapping = scheme.raw("mapping")
    if raw_mapping == "identity":
        missing = [s for s in source_classes if s not in classes]
        if missing:
            raise ParamsError(
                scheme.key("mapping"),
                f"identity needs every source emotion among the classes; missing {missing[0]!r}",
            )
        mapping: dict[str, str | None] = {s: s for s in source_classes}
    elif isinstance(raw_mapping, dict):
        mapping = {}
        for source, target in raw_mapping.items():
            key = scheme.key(f"mapping.{source}")
            if source not in source_classes:
                raise ParamsError(key, f"unknown source emotion; the source has: {', '.join(source_classes)}")
            if target is not None and target not in classes:
                raise ParamsError(
                    key,
                    f"maps onto {target!r}, which is not a declared class "
                    f"({scheme.key('classes')}: {', '.join(classes)})",
                )
            mapping[source] = target
        unmapped = [s for s in source_classes if s not in mapping]
        if unmapped:
            raise ParamsError(
                scheme.key(f"mapping.{unmapped[0]}"),
                "source emotion not mapped; map it to a class, or to null to leave it out",
            )
    else:
        raise ParamsError(scheme.key("mapping"), "expected `identity` or a mapping emotion: class")
    scheme.check_no_extra_keys()
    return LabelMap(classes=classes, mapping=mapping)


def learned_units(
    label_map: LabelMap, source_classes: tuple[str, ...], learn_key: str = "map_labels.learn"
) -> LabelMap:
    """What a model learns with `map_labels.learn: emotions`: source emotion -> unit.

    The units are every emotion the scheme keeps, each on its own (in the source's order),
    then every class that no emotion of its name feeds (photos of your own: fatigue, or a
    `stress` folder). Finer labels teach more; the model sums its units' probabilities into
    the scheme's classes (`class_of_unit`), so what it outputs is unchanged.
    """
    kept = [s for s in source_classes if label_map.mapping.get(s) is not None]
    for name in label_map.classes:
        target = label_map.mapping.get(name)
        if target is not None and target != name:
            raise ParamsError(
                learn_key,
                f"emotions needs one name per unit, but class {name!r} is also a source emotion "
                f"mapped to {target!r}: rename the class, or learn the classes",
            )
    units = tuple(kept) + tuple(c for c in label_map.classes if c not in kept)
    return LabelMap(classes=units, mapping={s: (s if s in kept else None) for s in source_classes})


def merge_matrix(source_classes: tuple[str, ...], label_map: LabelMap, classes: list[str]) -> np.ndarray:
    """(source, target) 0/1 matrix: source-class probabilities summed into the target classes."""
    matrix = np.zeros((len(source_classes), len(classes)), np.float32)
    for i, source in enumerate(source_classes):
        target = label_map.mapping.get(source)
        if target in classes:
            matrix[i, classes.index(target)] = 1.0
    return matrix


def learned_labels(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The labels a face model learns from: its units where map_labels.learn gave them (the
    `units` array), else its classes. Split, balance and train all go by them."""
    return arrays["units"] if "units" in arrays else arrays["labels"]


def class_of_unit(label_map: LabelMap, unit: str) -> str:
    """The scheme class a unit of `learned_units` sums into."""
    return label_map.mapping.get(unit) or unit


def labels_of_nonempty_classes(
    labels: np.ndarray, classes: tuple[str, ...], policy: str, what: str, fix: str
) -> tuple[np.ndarray, tuple[str, ...], list[str]]:
    """Renumber `labels` onto the classes that have members (or fail, when `policy` is "error").

    A softmax unit that never sees a positive cannot be learnt; the final class list is
    what the model and its metadata carry. `what` names the items ("images", "clips") and
    `fix` says how to add some, for the error message.
    """
    counts = np.bincount(labels, minlength=len(classes))
    empty = [c for c, n in zip(classes, counts) if n == 0]
    if empty and policy == "error":
        raise DataError(f"class {empty[0]!r} has no {what}; {fix}")
    final = tuple(c for c, n in zip(classes, counts) if n > 0)
    if len(final) < 2:
        raise DataError(f"only {len(final)} class has {what}; a classifier needs at least 2")
    renumber = (np.cumsum(counts > 0) - 1).astype(np.int16)
    return renumber[labels], final, empty


def class_counts(labels: np.ndarray, classes: tuple[str, ...] | list[str]) -> dict[str, int]:
    counts = np.bincount(labels, minlength=len(classes))
    return {name: int(n) for name, n in zip(classes, counts)}
