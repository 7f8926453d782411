"""Distilling from teachers' probabilities stored per face (`train.distill.soft_labels`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from stressvision.distillation import SoftTargetDistiller, distillation_loss
from stressvision.errors import DataError, ParamsError
from stressvision.labels import FER2013_EMOTIONS
from stressvision.sample_faces import write_sample_archive
from stressvision.soft_labels import SoftLabels, face_keys, learned_targets
from tests.conftest import ROOT, run
from tests.test_learn_emotions import trained_copy

STRESS_MAPPING = {
    "angry": "stress", "disgust": "stress", "fear": "stress", "sad": "sad", "neutral": "neutral",
    "surprise": "neutral", "happy": "happy",
}  # fmt: skip


@pytest.fixture(scope="module")
def sample_zip(tmp_path_factory):
    return write_sample_archive(tmp_path_factory.mktemp("faces") / "faces.zip", 24, 6, seed=3, progress=False)


def random_faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_a_face_has_one_key_wherever_it_moves():
    faces = random_faces(50)
    keys = face_keys(faces)
    assert keys.dtype == np.uint64 and len(np.unique(keys)) == 50
    order = np.random.default_rng(1).permutation(50)
    np.testing.assert_array_equal(face_keys(faces[order]), keys[order])
    touched = faces.copy()
    touched[3, 10, 10] ^= 1  # one pixel one grey level off: another face
    assert face_keys(touched)[3] != keys[3]


def test_views_are_averaged_per_face_saved_and_found_by_key(tmp_path):
    faces = random_faces(6)
    faces[5] = faces[0]  # FER-2013 holds duplicate faces: one row for them
    rng = np.random.default_rng(2)
    plain, mirrored = (rng.dirichlet(np.ones(7), 6).astype(np.float32) for _ in range(2))
    mirrored[5] = mirrored[0]
    plain[5] = plain[0]
    soft = SoftLabels.from_views(faces, [plain, mirrored], FER2013_EMOTIONS)
    assert len(soft.keys) == 5
    soft.save(tmp_path / "soft.npz")
    loaded = SoftLabels.load(tmp_path / "soft.npz")
    assert loaded.classes == FER2013_EMOTIONS
    found, rows = loaded.lookup(face_keys(np.concatenate([faces[[4, 0]], random_faces(1, seed=9)])))
    assert found.tolist() == [True, True, False]
    np.testing.assert_allclose(rows[:2], (plain[[4, 0]] + mirrored[[4, 0]]) / 2, atol=2e-3)  # float16
    assert not rows[2].any()

    with pytest.raises(DataError, match="rows of 7 probabilities for 5 faces"):
        SoftLabels.from_views(faces[:5], [plain], FER2013_EMOTIONS)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a soft-labels file .* scripts/soft_labels.py"):
        SoftLabels.load(tmp_path / "bad.npz")


def test_targets_sum_the_teachers_emotions_into_the_learned_labels():
    faces = random_faces(3)
    emotion = np.eye(7, dtype=np.float32)
    teacher = np.stack([  # angry + fear: stress; mostly surprise: neutral; all on a dropped class
        0.5 * emotion[0] + 0.3 * emotion[2] + 0.2 * emotion[3],
        0.9 * emotion[5] + 0.1 * emotion[6],
        emotion[1],
    ])  # fmt: skip
    soft = SoftLabels.from_views(faces, [teacher], FER2013_EMOTIONS)
    keys = face_keys(np.concatenate([faces, random_faces(1, seed=5)]))
    labels = np.array([1, 0, 2, 3])
    classes = ["neutral", "stress", "sad", "happy"]
    targets, held = learned_targets(soft, keys, labels, classes, STRESS_MAPPING)
    assert held == 3
    np.testing.assert_allclose(targets[0], [0, 0.8, 0, 0.2], atol=1e-3)
    np.testing.assert_allclose(targets[1], [1, 0, 0, 0], atol=1e-3)
    np.testing.assert_allclose(targets[3], [0, 0, 0, 1])  # not in the file: its hard label

    with pytest.raises(DataError, match="none of the training faces is in the soft-labels file"):
        learned_targets(soft, keys[3:], labels[3:], classes, STRESS_MAPPING)
    no_disgust = {k: v for k, v in STRESS_MAPPING.items() if k != "disgust"}
    targets, held = learned_targets(soft, keys, labels, classes, no_disgust)
    assert held == 2 and targets[2].tolist() == [0, 0, 1, 0]  # nothing left of its teacher: hard
    units = list(FER2013_EMOTIONS)  # map_labels.learn: emotions: each emotion its own unit
    targets, _ = learned_targets(soft, keys[:1], np.array([0]), units, STRESS_MAPPING)
    np.testing.assert_allclose(targets[0], teacher[0], atol=1e-3)


def test_soft_target_distiller_loss_is_alpha_hard_plus_weighted_soft():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).integers(0, 256, (8, 48, 48, 1)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
    teacher = np.random.default_rng(2).dirichlet(np.ones(3), 8).astype(np.float32)
    student = keras.Sequential([
        keras.Input((48, 48, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax", kernel_regularizer=keras.regularizers.L2(0.01)),
    ])  # fmt: skip
    trainer = SoftTargetDistiller(student, alpha=0.3, temperature=2.0)
    trainer.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy())
    predictions = trainer((x, teacher), training=True)
    loss = float(trainer.compute_loss((x, teacher), y, predictions, training=True))
    hard = float(keras.losses.CategoricalCrossentropy()(y, predictions))
    penalties = sum(float(keras.ops.sum(p)) for p in student.losses)
    soft = float(distillation_loss(teacher, predictions, 2.0))
    assert soft > 0 and penalties > 0  # the L2 penalty: counted once, not times alpha
    assert loss == pytest.approx(0.3 * hard + 0.7 * soft + penalties, rel=1e-5)
    evaluated = float(trainer.compute_loss((x, teacher), y, trainer((x, teacher)), training=False))
    assert evaluated == pytest.approx(hard + penalties, rel=1e-4)  # validation: the student alone


def test_bad_soft_labels_param_is_a_one_line_params_error(tmp_path):
    from stressvision.params import Section
    from stressvision.training import DistillConfig

    (tmp_path / "t.keras").write_bytes(b"")
    (tmp_path / "s.npz").write_bytes(b"")
    both = {
        "teacher": str(tmp_path / "t.keras"),
        "soft_labels": str(tmp_path / "s.npz"),
        "alpha": 0.5,
        "temperature": 4,
    }
    with pytest.raises(ParamsError, match="set teacher or soft_labels, not both"):
        DistillConfig.from_section(Section("train.distill", both))


@pytest.mark.pipeline
def test_dvc_repro_distils_from_a_soft_labels_file(tmp_path: Path):
    """A teacher right on every face but the sad ones, which it calls happy: with alpha 0 the
    student learns the teacher's answers, not the labels, so the file is what trained it (the
    best epoch is still chosen on the true labels of validation). The file is made from the
    mapped faces with SoftLabels, as scripts/soft_labels.py makes it."""
    distill = {"soft_labels": "teacher/soft.npz", "alpha": 0.0, "temperature": 1.0}
    project = trained_copy(tmp_path, "soft", {"train": {"epochs": 12, "distill": distill}})
    run(["dvc", "repro", "balance"], project)
    mapped = np.load(project / "data/mapped/faces.npz")
    classes = json.loads((project / "data/mapped/meta.json").read_text())["classes"]
    assert classes == ["neutral", "stress", "sad", "happy"]
    says = np.array([FER2013_EMOTIONS.index(e) for e in ("neutral", "angry", "happy", "happy")])
    teacher = np.eye(7, dtype=np.float32)[says[mapped["labels"]]]
    (project / "teacher").mkdir()
    SoftLabels.from_views(mapped["images"], [teacher], FER2013_EMOTIONS).save(project / "teacher/soft.npz")

    log = run(["dvc", "repro", "evaluate"], project).stdout
    n = len(np.load(project / "data/balanced/train.npz")["labels"])
    assert f"soft labels for {n} of {n} faces" in log  # augmented copies found by their original

    test = np.load(project / "data/split/test.npz")
    model = keras.models.load_model(project / "models/keras/model.keras")
    predicted = model.predict(test["images"][..., None].astype(np.float32), verbose=0).argmax(1)
    sad, happy = classes.index("sad"), classes.index("happy")
    on_sad = predicted[test["labels"] == sad]
    assert (predicted == sad).mean() < 0.05  # the teacher never says sad: nor does the student
    # The teacher's sad -> happy is learnt: sad faces are taken for happy above chance and far more
    # often than the faces it calls neutral or stress. The bars leave room for the CPU: this
    # 12-epoch student is another draw on each (AVX2-only Zen 3: 0.4 of the sad faces to happy,
    # 2/150 of the neutral and stress ones; 0.56 right on the other faces, 1/3 if it said neutral).
    neutral_or_stress = np.isin(test["labels"], [classes.index("neutral"), classes.index("stress")])
    assert (on_sad == happy).mean() > max(0.25, 5 * (predicted[neutral_or_stress] == happy).mean())
    others = test["labels"] != sad
    assert (predicted[others] == test["labels"][others]).mean() > 0.5
    per_class = json.loads((project / "metrics/evaluate.json").read_text())["per_class"]
    assert per_class["sad"]["recall"] < 0.1


def test_soft_labels_script_scores_teachers_and_keeps_test_faces_out(sample_zip, tmp_path):
    from stressvision.accelerated import read_faces
    from stressvision.datasets import OFFICIAL_TEST

    faces = read_faces(sample_zip)
    right = np.eye(7, dtype=np.float16)[faces.labels]  # a teacher that is always right
    np.savez(
        tmp_path / "out.npz", plain=right[None], mirrored=right[None], classes=np.array(FER2013_EMOTIONS)
    )
    result = run(
        [sys.executable, "scripts/soft_labels.py", "--archive", str(sample_zip),
         "--out", str(tmp_path / "s.npz"), "--teacher-outputs", str(tmp_path / "out.npz")],
        ROOT,
    )  # fmt: skip
    scores = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert scores[-1]["teacher"] == "average of 1"
    assert scores[-1]["emotions_flip"] == scores[-1]["scheme_plain"] == 1.0
    soft = SoftLabels.load(tmp_path / "s.npz")
    test = faces.official_split == OFFICIAL_TEST
    assert not np.isin(face_keys(faces.images[test]), soft.keys).any()
    assert np.isin(face_keys(faces.images[~test]), soft.keys).all()
