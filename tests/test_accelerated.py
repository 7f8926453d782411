"""Keras-only training for accelerators (stressvision.accelerated and its two scripts)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from stressvision.accelerated import (
    DeviceTrainer,
    FitPlan,
    RandomAffineWarp,
    RandomBlur,
    RandomBrightnessScale,
    RandomErasing,
    augmentation_model,
    collapsed,
    compile_trainer,
    ensemble,
    fit_network,
    load_weights_float16,
    one_hot,
    pack_faces,
    read_faces,
    save_weights_float16,
    scheme_splits,
    teacher_network,
)
from stressvision.augment import WARPS, AugmentConfig, reflect_coordinate
from stressvision.datasets import OFFICIAL_TEST, read_face_source
from stressvision.distillation import distillation_loss
from stressvision.labels import FER2013_EMOTIONS, merge_matrix
from stressvision.models import build_custom_light
from stressvision.sample_faces import write_sample_archive
from tests.conftest import ROOT, default_params, run


@pytest.fixture(scope="module")
def sample_zip(tmp_path_factory):
    return write_sample_archive(tmp_path_factory.mktemp("faces") / "faces.zip", 24, 6, seed=3, progress=False)


def test_augmentation_moves_pixels_only_while_training():
    images = np.random.default_rng(0).integers(0, 256, (16, 48, 48, 1)).astype(np.float32)
    for warp in WARPS:
        config = AugmentConfig(brightness=(0.5, 1.5), warp=warp, erasing=0.5, blur=1.0)
        augment = augmentation_model(config, seed=1)
        assert any(isinstance(layer, RandomBlur) for layer in augment.layers)
        moved = np.asarray(augment(images, training=True))
        assert moved.shape == images.shape and moved.min() >= 0 and moved.max() <= 255
        assert np.abs(moved - images).mean() > 10
        np.testing.assert_array_equal(np.asarray(augment(images, training=False)), images)
    erased = np.asarray(RandomErasing(1.0, seed=1)(images + 1, training=True))
    black = (erased == 0).mean(axis=(1, 2, 3))
    assert black.min() > 0.012 and black.max() < 0.37  # one box of 2-33 % in every image
    np.testing.assert_array_equal(erased[erased > 0], images[erased > 0] + 1)
    dots = np.zeros((200, 48, 48, 1), np.float32)
    dots[:, 24, 24] = 100.0
    blurred = np.asarray(RandomBlur(1.0, seed=1)(dots, training=True))
    np.testing.assert_allclose(blurred.sum(axis=(1, 2, 3)), 100.0, rtol=1e-4)
    centre = blurred[:, 24, 24, 0]  # sigma 0 keeps the dot; sigma 1 leaves 1 / (2 pi) of it in the middle
    assert centre.max() > 90 and 15 < centre.min() < 20
    scaled = np.asarray(RandomBrightnessScale(2.0, 2.0)(images[:, :8, :8] / 4, training=True))
    np.testing.assert_allclose(scaled, images[:, :8, :8] / 2, rtol=1e-6)


def test_affine_warp_is_one_bilinear_pass_with_reflected_edges():
    images = np.random.default_rng(0).integers(0, 256, (32, 48, 48, 2)).astype(np.float32)
    identity = RandomAffineWarp(0, 0, 0, False, seed=1)(images, training=True)
    np.testing.assert_array_equal(np.asarray(identity), images)
    flipped = np.asarray(RandomAffineWarp(0, 0, 0, True, seed=1)(images, training=True))
    mirrored = np.abs(flipped - images[:, :, ::-1]).max(axis=(1, 2, 3)) < 1e-3
    unchanged = np.abs(flipped - images).max(axis=(1, 2, 3)) < 1e-3
    assert (mirrored | unchanged).all() and 0 < mirrored.sum() < len(images)
    warped = np.asarray(RandomAffineWarp(12, 0.1, 0.05, True, seed=2)(images, training=True))
    assert warped.shape == images.shape and warped.min() >= 0 and warped.max() <= 255
    assert np.abs(warped - images).mean() > 10
    np.testing.assert_array_equal(np.asarray(RandomAffineWarp(12, 0.1, 0.05, True)(images)), images)
    folded = np.asarray(reflect_coordinate(np.array([-1.0, -0.5, 0.0, 3.2, 4.0, 5.0, 9.0]), 5))
    np.testing.assert_allclose(folded, [0.0, 0.0, 0.0, 3.2, 4.0, 4.0, 0.0], atol=1e-6)


def test_distilling_trainer_loss_is_alpha_hard_plus_weighted_soft():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).integers(0, 256, (8, 48, 48, 1)).astype(np.float32)
    y = one_hot(np.arange(8) % 3, 3)
    student, teacher = build_custom_light(3, input_size=48), build_custom_light(3, input_size=48)
    trainer = DeviceTrainer(student, None, teacher, alpha=0.3, temperature=2.0)
    compile_trainer(trainer, FitPlan(epochs=1, label_smoothing=0.0), steps_per_epoch=1)
    predictions = trainer(x, training=True)
    loss = float(trainer.compute_loss(x, y, predictions, training=True))

    hard = float(keras.losses.CategoricalCrossentropy()(y, predictions))
    soft = float(distillation_loss(teacher(x, training=False), predictions, 2.0))
    assert soft > 0
    assert loss == pytest.approx(0.3 * hard + 0.7 * soft, rel=1e-5)


def test_device_trainer_learns_and_keeps_the_best_epoch(sample_zip):
    _, classes, splits = scheme_splits(
        read_face_source(sample_zip, progress=False), "stress", default_params()
    )
    trainer = DeviceTrainer(
        build_custom_light(len(classes), input_size=48), augmentation_model(AugmentConfig(warp="single"), 0)
    )
    summary = fit_network(trainer, splits["train"], splits["val"], FitPlan(epochs=8, batch_size=16, seed=0))
    assert 1 <= summary["best_epoch"] <= 8 and summary["params"] == trainer.network.count_params()
    val_images, val_labels = splits["val"]
    accuracy = (
        trainer.network.predict(val_images.astype(np.float32), verbose=0).argmax(1) == val_labels
    ).mean()
    assert accuracy == pytest.approx(summary["best_val_accuracy"], abs=1e-4)  # best weights restored
    assert summary["best_val_accuracy"] > 1 / len(classes) + 0.15


def test_merge_matrix_sums_emotions_into_the_stress_classes(sample_zip):
    label_map, classes, _ = scheme_splits(
        read_face_source(sample_zip, progress=False), "stress", default_params()
    )
    assert classes == ["neutral", "stress", "sad", "happy"]  # fatigue has no FER-2013 faces
    merge = merge_matrix(FER2013_EMOTIONS, label_map, classes)
    stress = [FER2013_EMOTIONS.index(e) for e in ("angry", "disgust", "fear")]
    assert merge[:, classes.index("stress")].nonzero()[0].tolist() == stress
    assert (merge.sum(1) == 1).all()

    members = [build_custom_light(7, input_size=48) for _ in range(2)]
    x = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 1)).astype(np.float32)
    expected = (members[0].predict(x, verbose=0) + members[1].predict(x, verbose=0)) / 2 @ merge
    np.testing.assert_allclose(ensemble(members, merge).predict(x, verbose=0), expected, atol=1e-5)


def test_scheme_splits_keep_the_official_test_faces_apart(sample_zip):
    faces = read_face_source(sample_zip, progress=False)
    _, classes, splits = scheme_splits(faces, "emotions", default_params())
    assert classes == list(FER2013_EMOTIONS)
    assert len(splits["test"][1]) == (faces.official_split == OFFICIAL_TEST).sum() == 7 * 6
    assert len(splits["train"][1]) + len(splits["val"][1]) == 7 * 24
    assert splits["train"][0].shape[1:] == (48, 48, 1) and splits["val"][1].max() == 6


def test_packed_faces_and_float16_weights_round_trip(sample_zip, tmp_path):
    faces = read_face_source(sample_zip, progress=False)
    pack_faces(faces, tmp_path / "faces.npz.xz")
    packed = read_faces(tmp_path / "faces.npz.xz")
    for name in ("images", "labels", "official_split"):
        np.testing.assert_array_equal(getattr(packed, name), getattr(faces, name))

    model = teacher_network(7, width=0.0625, fc_units=32, dropout=0.5)
    save_weights_float16(model, str(tmp_path / "teacher.npz"))
    copy = load_weights_float16(
        teacher_network(7, width=0.0625, fc_units=32, dropout=0.5), tmp_path / "teacher.npz"
    )
    x = faces.images[:16, ..., None].astype(np.float32)
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), atol=2e-3)


def test_a_teacher_at_the_majority_share_is_collapsed_even_naming_two_classes():
    """The H200 teacher that slipped past a one-class check: 0.2513 on validation, two classes."""
    dead = {"best_val_accuracy": 0.2513, "val_predicted_classes": 2, "val_majority_share": 0.2513}
    assert collapsed(dead)
    assert not collapsed({**dead, "best_val_accuracy": 0.6729})


def stopped_run(sample_zip: Path, out: Path, *extra: str) -> str:
    """The last stderr line of a tiny-teacher run that must exit 1 before any student."""
    result = run(
        [sys.executable, "scripts/train_on_accelerator.py", "--archive", str(sample_zip), "--out", str(out),
         "--teacher-width", "0.0625", "--teacher-fc-units", "32", "--batch-size", "32",
         "--precision", "float32", *extra],
        ROOT,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    assert not (out / "teacher_0.npz").exists() and not any(out.glob("student_*"))
    return result.stderr.splitlines()[-1]


def test_a_device_too_slow_for_the_budget_stops_before_training(sample_zip, tmp_path):
    """`--min-epochs` turns a slow device into one line after one timing, not a spent lease."""
    line = stopped_run(sample_zip, tmp_path / "device", "--teacher-budget-s", "1", "--min-epochs", "1000")
    assert "fewer than the 1000 asked for" in line


def test_fixed_epochs_train_without_timing_against_the_budget(sample_zip, tmp_path):
    """`--epochs` trains that many epochs: the budget and --min-epochs that stop a timed run
    (the test above) do not apply, and no timing is printed."""
    out = tmp_path / "device"
    result = run(
        [sys.executable, "scripts/train_on_accelerator.py", "--archive", str(sample_zip), "--out", str(out),
         "--teacher-width", "0.0625", "--teacher-fc-units", "32", "--batch-size", "32",
         "--precision", "float32", "--teacher-budget-s", "1", "--min-epochs", "1000", "--epochs", "2",
         "--schemes"],
        ROOT,
        check=False,
    )  # fmt: skip
    assert "s per epoch ->" not in result.stdout
    assert json.loads((out / "results.json").read_text())["teacher_0"]["epochs"] == 2


def test_collapsed_teachers_stop_the_run_before_any_student(sample_zip, tmp_path):
    """Teachers stuck at the most common class (here: Adam at 1e4) are reported, not distilled from."""
    out = tmp_path / "device"
    line = stopped_run(
        sample_zip, out, "--teachers", "2", "--teacher-budget-s", "0", "--teacher-learning-rates", "1e4"
    )
    assert "no teacher beats answering the most common class on validation: nothing to distil" in line
    results = json.loads((out / "results.json").read_text())
    assert all(results[f"teacher_{t}"]["dropped"] for t in (0, 1))


@pytest.mark.pipeline
def test_train_on_accelerator_then_package_for_the_edge(sample_zip, tmp_path):
    """Both scripts end to end on the TensorFlow backend (CI has no JAX): teacher, distilled
    student, INT8 bundle that `stressvision evaluate` scores like the packaging script."""
    out = tmp_path / "device"
    run(
        [sys.executable, "scripts/train_on_accelerator.py", "--archive", str(sample_zip), "--out", str(out),
         "--schemes", "stress", "--teachers", "2", "--teacher-learning-rates", "1e4", "1e-3",
         "--teacher-width", "0.0625", "--teacher-fc-units", "32",
         "--teacher-budget-s", "1000", "--max-epochs", "8", "--student-width", "0.0625",
         "--student-fc-units", "32", "--student-budget-s", "0", "--batch-size", "32",
         "--precision", "float32", "--soft-labels"],
        ROOT,
    )  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert results["backend"] == "tensorflow"
    dead = results["teacher_0"]
    assert dead["dropped"] and dead["best_val_accuracy"] <= dead["val_majority_share"] + 0.01
    assert results["teacher_1"]["epochs"] == 8  # the cap: a large budget on any machine
    assert results["teacher_1"]["val_predicted_classes"] > 1 and not results["teacher_1"]["dropped"]
    assert "teacher_ensemble" not in results  # one teacher left: the student learns from it alone
    assert results["student_stress"]["epochs"] == 3  # a zero budget: warm-up + 1, the floor
    assert results["student_stress"]["classes"] == ["neutral", "stress", "sad", "happy"]
    names = {"teacher_1.npz", "student_stress.keras", "results.json", "soft_labels.npz"}
    assert names == {p.name for p in out.iterdir()}
    faces = read_face_source(sample_zip, progress=False)
    with np.load(out / "soft_labels.npz") as soft:  # the kept teacher only, on every face in order
        assert soft["plain"].shape == soft["mirrored"].shape == (1, len(faces.labels), 7)
        assert list(soft["classes"]) == list(FER2013_EMOTIONS)
        np.testing.assert_allclose(soft["plain"].astype(np.float32).sum(-1), 1.0, atol=1e-2)
        assert not np.array_equal(soft["plain"], soft["mirrored"])  # the mirror is another view

    timed = run(
        [sys.executable, "scripts/train_on_accelerator.py", "--archive", str(sample_zip), "--time-steps", "8",
         "--teacher-width", "0.0625", "--teacher-fc-units", "32", "--student-width", "0.0625",
         "--student-fc-units", "32", "--precision", "float32"],
        ROOT,
    )  # fmt: skip
    lines = [line for line in timed.stdout.splitlines() if " ms/step " in line]
    assert len(lines) == 6 and all(float(line.split()[-4]) > 0 for line in lines)

    bundle = tmp_path / "bundle"
    packaged = run(
        [sys.executable, "scripts/package_model.py", "--keras", str(out / "student_stress.keras"),
         "--scheme", "stress", "--archive", str(sample_zip), "--out", str(bundle)],
        ROOT,
    )  # fmt: skip
    report = json.loads(packaged.stdout.strip().splitlines()[-1])
    config = json.loads((bundle / "model_config.json").read_text())
    assert config["classes"] == ["neutral", "stress", "sad", "happy"] and config["model_input_size"] == 48
    assert report["keras"]["accuracy"] == results["student_stress"]["test_accuracy"]

    test_dir = tmp_path / "test_faces"
    for name in config["classes"]:
        (test_dir / name).mkdir(parents=True)
    for i in np.flatnonzero(faces.official_split == OFFICIAL_TEST):
        target = config["source_to_class"][FER2013_EMOTIONS[faces.labels[i]]]
        Image.fromarray(faces.images[i]).save(test_dir / target / f"{i}.png")
    evaluated = run(
        ["stressvision", "evaluate", "--model", str(bundle), "--data", str(test_dir), "--json"], ROOT
    )
    assert json.loads(evaluated.stdout)["accuracy"] == pytest.approx(
        report["tflite_int8"]["accuracy"], abs=1e-4
    )


def test_bad_files_are_data_errors(sample_zip, tmp_path):
    """A missing archive, a corrupt pack, teacher weights of another width and soft labels of
    another archive are one-line DataErrors, not tracebacks."""
    from stressvision.accelerated import load_teacher_outputs, new_output_folder
    from stressvision.errors import DataError

    with pytest.raises(DataError, match="no such file"):
        read_faces(tmp_path / "missing.zip")
    (tmp_path / "bad.npz.xz").write_bytes(b"not xz")
    with pytest.raises(DataError, match="not a file of --pack"):
        read_faces(tmp_path / "bad.npz.xz")
    save_weights_float16(teacher_network(7, 0.0625, 16, 0.5), str(tmp_path / "teacher_0.npz"))
    with pytest.raises(DataError, match="--teacher-width and --teacher-fc-units"):
        load_weights_float16(teacher_network(7, 0.125, 16, 0.5), str(tmp_path / "teacher_0.npz"))
    probabilities = np.full((1, 5, 7), 1 / 7, np.float16)
    np.savez(
        tmp_path / "soft.npz", plain=probabilities, mirrored=probabilities, classes=np.array(FER2013_EMOTIONS)
    )
    assert load_teacher_outputs(tmp_path / "soft.npz", 5)[0].shape == (1, 5, 7)
    with pytest.raises(DataError, match="not this archive's"):
        load_teacher_outputs(tmp_path / "soft.npz", 6)
    with pytest.raises(DataError, match="not a soft_labels.npz"):
        load_teacher_outputs(tmp_path / "teacher_0.npz", 5)
    assert new_output_folder(tmp_path / "new").is_dir() and new_output_folder(tmp_path / "new")
    with pytest.raises(DataError, match="not an empty folder"):
        new_output_folder(tmp_path)


def test_weights_and_packs_are_written_whole_or_not_at_all(sample_zip, tmp_path, monkeypatch):
    """Ctrl-C while a file is written leaves no half-written file under its name."""

    def interrupted(file, *args, **kwargs):
        with open(file, "wb") if isinstance(file, (str, Path)) else contextlib.nullcontext(file) as fh:
            fh.write(b"PK\x03\x04 half")
        raise KeyboardInterrupt

    faces = read_faces(sample_zip)
    monkeypatch.setattr(np, "savez", interrupted)
    for write, path in (
        (lambda p: save_weights_float16(teacher_network(7, 0.0625, 16, 0.5), str(p)), tmp_path / "t.npz"),
        (lambda p: pack_faces(faces, p), tmp_path / "faces.npz.xz"),
    ):
        with pytest.raises(KeyboardInterrupt):
            write(path)
        assert not path.exists()
    assert not list(tmp_path.iterdir())


def script_error(*args: str) -> str:
    """The one stderr line of a script run that must stop with status 2 (no traceback)."""
    result = run([sys.executable, *args], ROOT, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    return result.stderr.strip().splitlines()[-1]


def test_scripts_stop_with_one_line_on_bad_inputs(sample_zip, tmp_path):
    """Missing or wrong files, a used --out folder and options out of range: one line, status 2."""
    notface = keras.Sequential([keras.Input((10,)), keras.layers.Dense(4, activation="softmax")])
    notface.save(tmp_path / "notface.keras")
    (tmp_path / "junk.keras").write_bytes(b"junk")
    used = tmp_path / "used"
    used.mkdir()
    (used / "results.json").write_text("{}")
    accelerator = ["scripts/train_on_accelerator.py", "--archive", str(sample_zip)]
    line = script_error(
        "scripts/train_on_accelerator.py",
        "--archive",
        str(tmp_path / "missing.zip"),
        "--out",
        str(tmp_path / "o"),
    )
    assert "missing.zip: no such file" in line
    assert "exists and is not an empty folder" in script_error(*accelerator, "--out", str(used))
    assert "--alpha must be in [0, 1], got 2.0" in script_error(
        *accelerator, "--out", str(used), "--alpha", "2"
    )
    package = ["scripts/package_model.py", "--archive", str(sample_zip), "--scheme", "stress"]
    line = script_error(*package, "--keras", str(tmp_path / "junk.keras"), "--out", str(tmp_path / "b"))
    assert line.startswith("error [package_model]: ") and "not a .keras model" in line
    line = script_error(*package, "--keras", str(tmp_path / "notface.keras"), "--out", str(tmp_path / "b"))
    assert "takes input (None, 10)" in line and not (tmp_path / "b").exists()
    assert "holds other files" in script_error(
        *package, "--keras", str(tmp_path / "junk.keras"), "--out", str(used)
    )
    soft = ["scripts/soft_labels.py", "--archive", str(sample_zip), "--out", str(tmp_path / "s.npz")]
    assert "no such soft-labels file" in script_error(*soft, "--teacher-outputs", str(tmp_path / "x.npz"))
