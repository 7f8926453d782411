"""`map_labels.learn: emotions`: the model learns the emotions and sums them into the classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.project_copy import copy_project
from stressvision.datasets import FaceSet, unit_labels
from stressvision.errors import ParamsError
from stressvision.labels import FER2013_EMOTIONS, LabelMap, class_of_unit, learned_units
from stressvision.litert import TFLiteClassifier
from tests.conftest import TINY_PROFILE, deep_update, git, run, set_params
from tests.test_data import STRESS_MAP


def test_units_are_the_kept_emotions_then_the_classes_no_emotion_feeds():
    units = learned_units(STRESS_MAP, FER2013_EMOTIONS)
    assert units.classes == (*FER2013_EMOTIONS, "stress", "fatigue")
    assert [class_of_unit(STRESS_MAP, u) for u in units.classes] == [
        "stress",
        "stress",
        "stress",
        "happy",
        "sad",
        "neutral",
        "neutral",
        "stress",
        "fatigue",
    ]
    # an emotion mapped to null is no unit
    dropped = LabelMap(STRESS_MAP.classes, {**STRESS_MAP.mapping, "surprise": None})
    assert "surprise" not in learned_units(dropped, FER2013_EMOTIONS).classes


def test_a_class_named_like_an_emotion_mapped_elsewhere_is_a_params_error():
    clash = LabelMap(("stress", "angry"), {e: "stress" for e in FER2013_EMOTIONS})
    with pytest.raises(ParamsError) as error:
        learned_units(clash, FER2013_EMOTIONS)
    assert str(error.value).startswith("params.yaml: map_labels.learn: emotions needs one name per unit")
    assert "class 'angry' is also a source emotion mapped to 'stress'" in str(error.value)


def test_own_photos_join_the_emotion_of_their_name_or_become_their_own_unit():
    fer = FaceSet(np.zeros((7, 48, 48), np.uint8), np.arange(7, dtype=np.int16), np.zeros(7, np.int8))
    own = [STRESS_MAP.classes.index(c) for c in ("sad", "fatigue", "fatigue", "stress")]
    custom = FaceSet(np.zeros((4, 48, 48), np.uint8), np.array(own, np.int16), np.full(4, -1, np.int8))
    labels, units = unit_labels(fer, custom, STRESS_MAP)
    assert units == (*FER2013_EMOTIONS, "stress", "fatigue")
    assert [units[i] for i in labels] == [*FER2013_EMOTIONS, "sad", "fatigue", "fatigue", "stress"]
    # without photos the two own-photo units have no faces and are left out
    labels, units = unit_labels(fer, FaceSet.empty(), STRESS_MAP)
    assert units == FER2013_EMOTIONS and labels.tolist() == list(range(7))


def trained_copy(root: Path, name: str, updates: dict) -> Path:
    project = copy_project(root / name)
    set_params(project, deep_update(json.loads(json.dumps(TINY_PROFILE)), updates))
    git(project, "add", "-A")
    git(project, "commit", "-qm", name)
    return project


def test_learning_the_emotions_is_the_emotions_model_summed_into_the_stress_classes(tmp_path: Path):
    """The same split, balance and training as the 7-emotion scheme, so the same network: its
    probabilities summed into the stress classes are what the stress model outputs, through
    evaluate, the INT8 export and its bundle."""
    import keras

    short = {"train": {"epochs": 3}}
    emotions = trained_copy(tmp_path, "emotions", {**short, "map_labels": {"scheme": "emotions"}})
    learned = trained_copy(tmp_path, "learned", {**short, "map_labels": {"learn": "emotions"}})
    run(["dvc", "repro", "train"], emotions)
    log = run(["dvc", "repro", "quantize", "evaluate"], learned).stdout
    assert "learnt as 7 units" in log

    meta = json.loads((learned / "data/mapped/meta.json").read_text())
    classes = meta["classes"]
    assert classes == ["neutral", "stress", "sad", "happy"]  # no fatigue photos in the sample
    assert list(meta["units"]) == list(FER2013_EMOTIONS)
    balanced = json.loads((learned / "metrics/data/balance.json").read_text())
    assert len(set(balanced["unit_counts"].values())) == 1  # balanced over the emotions
    assert balanced["counts"]["stress"] == 3 * balanced["counts"]["happy"]

    faces = np.load(learned / "data/split/test.npz")["images"][:64].astype(np.float32)[..., None]
    seven = keras.models.load_model(emotions / "models/keras/model.keras").predict(faces, verbose=0)
    four = keras.models.load_model(learned / "models/keras/model.keras").predict(faces, verbose=0)
    summed = np.zeros_like(four)
    for unit, name in enumerate(FER2013_EMOTIONS):
        summed[:, classes.index(STRESS_MAP.mapping[name])] += seven[:, unit]
    np.testing.assert_allclose(four, summed, atol=1e-5)
    assert np.abs(seven.max(1) - 1).max() > 0.05  # the test compares learnt outputs, not one-hots

    train_metrics = json.loads((learned / "metrics/train.json").read_text())
    assert 0 <= train_metrics["val_class_accuracy"] <= 1
    bundle = json.loads((learned / "models/tflite/model_config.json").read_text())
    assert bundle["classes"] == classes and list(bundle["learned_units"]) == list(FER2013_EMOTIONS)
    evaluated = json.loads((learned / "metrics/evaluate.json").read_text())
    assert len(evaluated["per_class"]) == 4

    int8 = TFLiteClassifier(learned / "models/tflite/int8.tflite")
    out = int8.predict(faces[:8])
    assert out.shape == (8, 4) and np.abs(out.sum(1) - 1).max() < 0.05


def test_a_class_head_beside_the_units_ships_the_average_of_the_two_heads(tmp_path: Path):
    """train.class_head: one network learns the emotions and the stress classes on two heads;
    model.keras, evaluate and the INT8 bundle see their average in the classes, which is also
    what validation scored. Without units to learn the switch is a one-line params error."""
    import keras

    updates = {"train": {"epochs": 3, "class_head": True}, "map_labels": {"learn": "emotions"}}
    project = trained_copy(tmp_path, "heads", updates)
    log = run(["dvc", "repro", "quantize", "evaluate"], project).stdout
    assert "learnt as 7 units and as the classes (two heads, averaged)" in log

    classes = json.loads((project / "data/mapped/meta.json").read_text())["classes"]
    shipped = keras.models.load_model(project / "models/keras/model.keras")
    heads = keras.Model(shipped.inputs, shipped.get_layer("units_and_classes").output)
    faces = np.load(project / "data/split/test.npz")["images"][:64].astype(np.float32)[..., None]
    both = heads.predict(faces, verbose=0)
    to_classes = np.eye(len(classes))[[classes.index(STRESS_MAP.mapping[e]) for e in FER2013_EMOTIONS]]
    summed, own = both[:, :7] @ to_classes, both[:, 7:]
    np.testing.assert_allclose(shipped.predict(faces, verbose=0), (summed + own) / 2, atol=1e-5)
    assert np.abs(summed - own).max() > 0.05  # two heads that disagree, not one

    train_metrics = json.loads((project / "metrics/train.json").read_text())
    assert train_metrics["val_accuracy"] == pytest.approx(train_metrics["val_class_accuracy"], abs=1e-6)
    out = TFLiteClassifier(project / "models/tflite/int8.tflite").predict(faces[:8])
    assert out.shape == (8, 4) and np.abs(out.sum(1) - 1).max() < 0.05

    set_params(project, {"map_labels": {"learn": "classes"}})
    failed = run(["dvc", "repro", "train"], project, check=False)
    assert failed.returncode != 0
    message = "train.class_head: no units to put a class head beside: set map_labels.learn: emotions"
    assert f"params.yaml: {message}" in failed.stderr + failed.stdout
