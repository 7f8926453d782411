"""The face model builders, their training options and the named profiles, on tiny inputs."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from benchmarks.face_profiles import FACE_PROFILES
from stressvision.errors import ParamsError
from stressvision.export import to_tflite
from stressvision.fitting import fit_and_save
from stressvision.heads import averaging_kernel
from stressvision.litert import TFLiteClassifier
from stressvision.models import (
    MODEL_BUILDERS,
    build_mobilenetv3_small,
    dead_dense_units,
    sum_into_classes,
)
from stressvision.params import Section
from stressvision.profiles import (
    PROFILES_DIR,
    ProfileError,
    available,
    check_keys,
    exp_run_command,
    expand_home,
    set_args,
    set_param_keys,
)
from stressvision.profiles import main as profiles_main
from stressvision.training import (
    CosineSchedule,
    TimeLeft,
    TrainConfig,
    build_model,
    make_dataset,
    make_optimizer,
    train,
)
from tests.conftest import ROOT, deep_update, default_params, vgg_fer_with_units_off

NUM_CLASSES = 3
# Small enough for a 2-core CI machine; every builder keeps its structure.
TINY = {
    "custom_light": {"input_size": 48},
    "mobilenetv3_small": {"input_size": 32, "weights": "none"},
    "resnet18": {"input_size": 32, "width": 0.125},
    "vgg_fer": {"input_size": 48, "width": 0.0625},
}


def faces(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 48, 48), dtype=np.uint8), rng.integers(0, NUM_CLASSES, n).astype(np.int16)


def train_config(**updates) -> TrainConfig:
    base = {"epochs": 1, "batch_size": 8, "augment": False, "input_size": 48}
    return TrainConfig.from_section(Section("train", deep_update(default_params()["train"], base | updates)))


def test_every_builder_is_tested():
    assert set(TINY) == set(MODEL_BUILDERS)


@pytest.mark.parametrize("name", sorted(TINY))
def test_builder_trains_a_step_and_runs_as_int8_tflite(name, tmp_path):
    model = build_model(train_config(model=name, **TINY[name]), NUM_CLASSES)
    assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, NUM_CLASSES)
    assert model.get_layer("probabilities").dtype_policy.compute_dtype == "float32"
    images, labels = faces(8)
    pixels = images[..., None].astype(np.float32)
    model.compile(optimizer="adam", loss="categorical_crossentropy", run_eagerly=True)  # one step: no tracing
    loss = model.train_on_batch(pixels, keras.utils.to_categorical(labels, NUM_CLASSES))
    assert np.isfinite(loss)

    path = tmp_path / "int8.tflite"
    path.write_bytes(to_tflite(model, "int8", images))
    lite = TFLiteClassifier(path)
    assert lite.input_dtype == np.int8
    probabilities = lite.predict(pixels[:4])
    assert probabilities.shape == (4, NUM_CLASSES)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=0.05)


def backbone(model: keras.Model) -> keras.Model:
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def test_mobilenet_weights_none_and_a_local_file(tmp_path):
    scratch = build_mobilenetv3_small(NUM_CLASSES, input_size=32, weights="none")
    assert all(layer.trainable for layer in backbone(scratch).layers)  # random weights: all train

    path = tmp_path / "backbone.weights.h5"
    backbone(scratch).save_weights(path)
    rebuilt = build_mobilenetv3_small(NUM_CLASSES, input_size=32, weights=str(path), trainable_layers=5)
    loaded = backbone(rebuilt)
    for saved, read in zip(backbone(scratch).get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, read)
    assert [layer.trainable for layer in loaded.layers[-6:]] == [False] + [True] * 5

    with pytest.raises(ParamsError, match=r"^params.yaml: train.weights: .*no such .h5 file"):
        build_mobilenetv3_small(NUM_CLASSES, input_size=32, weights=str(tmp_path / "missing.h5"))


def test_mobilenet_imagenet_offline_is_one_line(tmp_path):
    script = textwrap.dedent(
        """
        from stressvision.errors import ParamsError
        from stressvision.models import build_mobilenetv3_small
        try:
            build_mobilenetv3_small(3, input_size=32, weights="imagenet")
            print("DOWNLOADED")
        except ParamsError as exc:
            print("ERROR", exc)
        """
    )
    env = {"KERAS_HOME": str(tmp_path / "keras-home"), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if "DOWNLOADED" in result.stdout:
        pytest.skip("the network is reachable here: ImageNet weights were downloaded")
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, result.stdout + result.stderr
    assert errors[0].startswith("ERROR params.yaml: train.weights: cannot download the ImageNet weights")
    assert errors[0].endswith("set train.weights to none or to a local .h5 weights file")


def test_vgg_fer_fc_units_sets_its_dense_layers_apart_from_the_width():
    paper = build_model(train_config(model="vgg_fer", width=0.25), NUM_CLASSES)
    narrow = build_model(train_config(model="vgg_fer", width=0.25, fc_units=512), NUM_CLASSES)
    assert paper.get_layer("fc1").units == paper.get_layer("fc2").units == 1024  # 4096 x width
    assert narrow.get_layer("fc1").units == narrow.get_layer("fc2").units == 512
    # the convolutions are the same; the dense weights shrink: 3x3x128 -> 512 -> 512 -> classes
    convs = [layer.count_params() for layer in narrow.layers if layer.name.startswith("conv")]
    assert convs == [layer.count_params() for layer in paper.layers if layer.name.startswith("conv")]
    dense = 1152 * 512 + 512 + 512 * 512 + 512 + 512 * NUM_CLASSES + NUM_CLASSES
    assert narrow.count_params() == sum(convs) + dense


def test_vgg_fer_fc_batchnorm_normalises_its_dense_layers_and_converts_exactly(tmp_path):
    """The normalisation replaces each dense layer's bias and sits before its ReLU; trained a
    step, the float32 TFLite file computes what Keras does and the INT8 file runs."""
    plain = build_model(train_config(model="vgg_fer", width=0.0625, fc_units=32), NUM_CLASSES)
    normed = build_model(
        train_config(model="vgg_fer", width=0.0625, fc_units=32, fc_batchnorm=True), NUM_CLASSES
    )
    for i in (1, 2):
        assert (
            not normed.get_layer(f"fc{i}").use_bias
            and normed.get_layer(f"fc{i}").activation.__name__ == "linear"
        )
        order = [layer.name for layer in normed.layers]
        assert order.index(f"fc{i}") < order.index(f"fc{i}_bn") < order.index(f"fc{i}_relu")
    # two biases of 32 give way to two normalisations of 4 x 32 (scale, shift, mean, variance)
    assert normed.count_params() == plain.count_params() - 2 * 32 + 2 * 4 * 32
    images, labels = faces(16)
    pixels = images[..., None].astype(np.float32)
    normed.compile(optimizer="adam", loss="categorical_crossentropy", run_eagerly=True)
    normed.train_on_batch(pixels, keras.utils.to_categorical(labels, NUM_CLASSES))
    for variant in ("float32", "int8"):
        (tmp_path / f"{variant}.tflite").write_bytes(to_tflite(normed, variant, images))
    expected = normed.predict(pixels, verbose=0)
    np.testing.assert_allclose(
        TFLiteClassifier(tmp_path / "float32.tflite").predict(pixels), expected, atol=1e-5
    )
    assert TFLiteClassifier(tmp_path / "int8.tflite").predict(pixels).shape == expected.shape


@pytest.mark.parametrize(
    ("fc_batchnorm", "relus"), [(False, ("fc1", "fc2")), (True, ("fc1_relu", "fc2_relu"))]
)
def test_dead_dense_units_counts_the_units_no_face_turns_on(fc_batchnorm, relus):
    model = vgg_fer_with_units_off(fc_batchnorm, units=16, off=[2, 5, 11])
    images, _ = faces(12)
    assert dead_dense_units(model, images) == {relus[0]: (3, 16), relus[1]: (0, 16)}
    assert (
        dead_dense_units(build_model(train_config(**TINY["resnet18"], model="resnet18"), NUM_CLASSES), images)
        == {}
    )


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"model": "vgg16"}, "train.model: unknown value 'vgg16'"),
        ({"weights": "model.bin"}, "train.weights: expected imagenet, none or a .h5/.weights.h5 file"),
        ({"trainable_layers": -1}, "train.trainable_layers: must be >= 0"),
        ({"width": 0}, "train.width: must be >= 0.05"),
        ({"fc_units": -1}, "train.fc_units: must be >= 0"),
        ({"fc_batchnorm": "yes"}, "train.fc_batchnorm: expected true or false"),
        ({"lr_schedule": "step"}, "train.lr_schedule: unknown value 'step'"),
        ({"lr_schedule": "cosine", "warmup_epochs": 5}, "train.warmup_epochs: must be < train.epochs (1)"),
        ({"precision": "bfloat16"}, "train.precision: unknown value 'bfloat16'"),
        ({"cache": "yes"}, "train.cache: expected true or false"),
        ({"distill": {"teacher": "no/t.keras"}}, "train.distill.teacher: 'no/t.keras' is not a .keras model"),
        ({"distill": {"teacher": None}}, 'train.distill.teacher: expected "" or a .keras model path'),
        ({"distill": {"alpha": 2}}, "train.distill.alpha: must be <= 1.0"),
        ({"distill": {"temp": 2}}, "train.distill.temp: unknown key"),
        ({"distill": {"soft_labels": "t.keras"}}, 'train.distill.soft_labels: expected "" or a .npz file'),
        ({"distill": {"soft_labels": "no/s.npz"}}, "train.distill.soft_labels: 'no/s.npz' does not exist"),
        ({"augmentation": {"warp": "blur"}}, "train.augmentation.warp: unknown value 'blur'"),
        ({"ema": 1}, "train.ema: must be <= 0.9999, got 1"),
        ({"mixup_alpha": -0.2}, "train.mixup_alpha: must be >= 0.0"),
        ({"optimizer": "rmsprop"}, "train.optimizer: unknown value 'rmsprop'"),
        ({"weight_decay": -0.1}, "train.weight_decay: must be >= 0.0"),
        ({"class_head": "yes"}, "train.class_head: expected true or false"),
    ],
)
def test_bad_train_params_are_one_line(updates, message):
    with pytest.raises(ParamsError) as err:
        train_config(**updates)
    assert str(err.value).startswith(f"params.yaml: {message}") and "\n" not in str(err.value)


@pytest.mark.parametrize("soft", [False, True])
def test_mixup_mixes_faces_and_their_targets_with_one_partner_and_weight(soft):
    """Eight faces of eight classes: each mixed label row names the partner and the weight, and
    the pixels (and soft targets) must be that same mix."""
    n = 8
    images = np.random.default_rng(0).integers(0, 256, (n, 48, 48), dtype=np.uint8)
    labels = np.arange(n)
    targets = np.random.default_rng(1).dirichlet(np.ones(n), n).astype(np.float32) if soft else None

    def batches(alpha: float):
        ds = make_dataset(images, labels, n, n, False, seed=3, soft_targets=targets, mixup_alpha=alpha)
        return [
            (np.asarray(x[0] if soft else x), np.asarray(x[1]) if soft else None, np.asarray(y))
            for x, y in ds
        ]

    (pixels, mixed_targets, mixed) = batches(0.4)[0]
    assert not np.allclose(mixed, np.eye(n)) and np.allclose(mixed.sum(1), 1.0)
    own = np.diag(mixed)
    partner = np.where(own < 1 - 1e-6, np.argmax(mixed - np.diag(own), axis=1), np.arange(n))
    moved = partner != np.arange(n)
    assert moved.any() and np.allclose(own[moved], own[moved][0])  # one weight per batch
    for k, j in enumerate(partner):
        np.testing.assert_allclose(
            pixels[k, ..., 0], own[k] * images[k] + mixed[k, j] * images[j] * (j != k), atol=1e-3
        )
        if soft:
            expect = own[k] * targets[k] + mixed[k, j] * targets[j] * (j != k)
            np.testing.assert_allclose(mixed_targets[k], expect, atol=1e-5)
    assert all(
        np.array_equal(a, b) for a, b in zip(batches(0.4)[0], (pixels, mixed_targets, mixed)) if a is not None
    )
    (plain, _, one_hot) = batches(0.0)[0]
    assert np.array_equal(one_hot, np.eye(n)) and np.array_equal(plain[..., 0], images)


def test_train_fits_the_mixed_batches(tmp_path):
    """Same seed, same faces: the model trained with mixup differs, and only by the mixing."""
    images, labels = faces(16)
    none = (images[:0], labels[:0])
    kept = []
    for alpha in (0.0, 0.0, 0.4):
        config = train_config(lr_schedule="cosine", warmup_epochs=0, mixup_alpha=alpha)
        kept.append(
            train(config, (images, labels), none, NUM_CLASSES, tmp_path / str(len(kept)))[0].get_weights()
        )
    assert all(np.array_equal(a, b) for a, b in zip(kept[0], kept[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(kept[0], kept[2]))


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_weight_decay_shrinks_each_step_by_learning_rate_times_decay(optimizer):
    """With a zero gradient only the decay moves a weight: 1 - 0.5 x 0.1 per step, either optimizer."""
    config = train_config(optimizer=optimizer, learning_rate=0.5, weight_decay=0.1)
    chosen = make_optimizer(config)
    weight = keras.Variable(np.ones(3, np.float32))
    for _ in range(2):
        chosen.apply_gradients([(np.zeros(3, np.float32), weight)])
    np.testing.assert_allclose(weight.numpy(), 0.95**2, rtol=1e-6)
    if optimizer == "sgd":  # the record's optimizer
        assert isinstance(chosen, keras.optimizers.SGD) and chosen.nesterov and chosen.momentum == 0.9
    else:
        assert isinstance(chosen, keras.optimizers.Adam)
    assert make_optimizer(train_config(optimizer=optimizer)).weight_decay is None  # 0: off


def test_sgd_trains_and_the_kept_model_was_trained_by_it(tmp_path):
    images, labels = faces(16)
    config = train_config(
        optimizer="sgd", learning_rate=0.01, lr_schedule="cosine", warmup_epochs=1, epochs=2
    )
    model, history, _ = train(config, (images, labels), (images[:8], labels[:8]), NUM_CLASSES, tmp_path)
    assert isinstance(model.optimizer, keras.optimizers.SGD) and model.optimizer.nesterov
    assert all(np.isfinite(history["loss"])) and int(model.optimizer.iterations) > 0


def test_distillation_trains_the_student_from_a_teacher(tmp_path):
    images, labels = faces(32)
    teacher = MODEL_BUILDERS["custom_light"](NUM_CLASSES, input_size=48)
    teacher.save(tmp_path / "teacher.keras")
    distill = {"teacher": str(tmp_path / "teacher.keras"), "alpha": 0.3, "temperature": 3.0}
    config = train_config(distill=distill)
    model, history, summary = train(config, (images, labels), (images[:8], labels[:8]), NUM_CLASSES, tmp_path)
    assert model.name == "custom_light" and np.isfinite(history["loss"]).all()
    assert summary["epochs_run"] == 1

    wrong = MODEL_BUILDERS["custom_light"](NUM_CLASSES + 1, input_size=48)
    wrong.save(tmp_path / "wrong.keras")
    with pytest.raises(ParamsError, match="predicts 4 classes, the data has 3"):
        config = train_config(distill={"teacher": str(tmp_path / "wrong.keras")})
        train(config, (images, labels), (images, labels), NUM_CLASSES, tmp_path)


def test_class_head_with_distillation_is_one_line(tmp_path):
    (tmp_path / "soft.npz").write_bytes(b"")
    with pytest.raises(ParamsError, match="^params.yaml: train.class_head: distillation .* set one of them$"):
        train_config(class_head=True, distill={"soft_labels": str(tmp_path / "soft.npz")})


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_class_head_trains_both_heads_and_validates_their_average(tmp_path, precision):
    """Five units summed into three classes: the network outputs both softmaxes, the loss is
    each head's cross-entropy, and val_accuracy is the accuracy of their average in the classes,
    which sum_into_classes with the averaging kernel is."""
    class_of_unit = [0, 1, 1, 2, 2]
    rng = np.random.default_rng(0)
    images, units = rng.integers(0, 256, (48, 48, 48), dtype=np.uint8), rng.integers(0, 5, 48)
    config = train_config(class_head=True, epochs=3, label_smoothing=0.1, precision=precision)
    val = (images[:16], units[:16])
    unit_classes = np.eye(3, dtype=np.float32)[class_of_unit]
    model, history, summary = train(config, (images, units), val, 5, tmp_path, unit_classes=unit_classes)
    assert model.output_shape == (None, 5 + 3)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert set(history) >= {"accuracy", "val_accuracy", "loss", "val_loss"} and "precision" not in history

    out = model.predict(val[0][..., None].astype(np.float32), verbose=0)
    unit_p, class_p = out[:, :5], out[:, 5:]
    np.testing.assert_allclose([unit_p.sum(1), class_p.sum(1)], 1, atol=1e-5)
    classes = np.asarray(class_of_unit)[val[1]]
    averaged = 0.5 * (unit_p @ np.eye(3)[class_of_unit] + class_p)
    epoch = summary["best_epoch"] - 1
    assert history["val_accuracy"][epoch] == pytest.approx((averaged.argmax(1) == classes).mean())

    def entropy(p, labels, k):
        smoothed = np.eye(k)[labels] * 0.9 + 0.1 / k
        return -(smoothed * np.log(np.clip(p, 1e-7, 1))).sum(1)

    both = entropy(unit_p, val[1], 5) + entropy(class_p, classes, 3)
    assert history["val_loss"][epoch] == pytest.approx(both.mean(), rel=1e-3)
    assert not np.allclose(unit_p @ np.eye(3)[class_of_unit], class_p, atol=1e-3)  # two heads, not one

    shipped = sum_into_classes(model, averaging_kernel(unit_classes))
    assert shipped.output_shape == (None, 3)
    np.testing.assert_allclose(shipped.predict(val[0][..., None], verbose=0), averaged, atol=1e-5)


class WeightsAtEpochEnd(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_without_validation_faces_the_last_epoch_is_kept(tmp_path, capsys, precision):
    images, labels = faces(32)
    none = (images[:0], labels[:0])
    config = train_config(epochs=3, lr_schedule="cosine", warmup_epochs=1, precision=precision, augment=True)
    seen = WeightsAtEpochEnd()
    model, history, summary = train(config, (images, labels), none, NUM_CLASSES, tmp_path, [seen])
    said = [line for line in capsys.readouterr().out.splitlines() if " epochs in " in line]
    assert [line.split(" in ")[0] for line in said] == ["train: 1/3 epochs", "train: 2/3 epochs"]
    assert all(" min, about " in line for line in said)  # no early stopping without validation
    assert summary["epochs_run"] == summary["kept_epoch"] == 3 and "best_epoch" not in summary
    assert "val_accuracy" not in history and summary["accuracy"] == history["accuracy"][-1]
    assert not np.allclose(seen.weights[1][0], seen.weights[2][0])  # the epochs differ
    for kept, last in zip(model.get_weights(), seen.weights[-1]):
        np.testing.assert_array_equal(kept, last)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    # the cosine schedule drives the optimizer: the rate of each epoch's last batch (4 per epoch)
    curve = CosineSchedule(config.learning_rate, warmup_epochs=1, epochs=3, steps_per_epoch=4)
    np.testing.assert_allclose(history["learning_rate"], [curve.rate(s) for s in (3, 7, 11)], rtol=1e-5)
    assert history["learning_rate"][1] > history["learning_rate"][2] > 0

    with pytest.raises(ParamsError, match="train.lr_schedule: plateau watches the validation loss"):
        train(train_config(lr_schedule="plateau"), (images, labels), none, NUM_CLASSES, tmp_path)


class WeightsPerBatch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(self.model.get_weights())


@pytest.mark.parametrize("validate", [False, True])
def test_ema_validates_and_keeps_the_moving_average_of_the_weights(tmp_path, validate):
    images, labels = faces(32)
    val = (images[:8], labels[:8]) if validate else (images[:0], labels[:0])
    config = train_config(epochs=3, lr_schedule="cosine", warmup_epochs=1, ema=0.5)
    seen = WeightsPerBatch()
    model, history, summary = train(config, (images, labels), val, NUM_CLASSES, tmp_path, [seen])
    assert len(seen.batches) == 3 * 4  # 32 faces in batches of 8: the weights as trained, per batch
    average, at_epoch_end = seen.batches[0], []
    for step, weights in enumerate(seen.batches):
        momentum = min(0.5, (2 + step) / (11 + step))  # warming up: 0.25, 0.31, ... 0.5 from step 7
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights)] if step else average
        if step % 4 == 3:
            at_epoch_end.append(average)
    epoch = summary["best_epoch" if validate else "kept_epoch"] - 1  # counted from 1
    kept = model.get_weights()
    assert len(kept) > len(model.trainable_variables)  # batch-norm statistics are averaged too
    for k, a in zip(kept, at_epoch_end[epoch]):
        np.testing.assert_allclose(k, a, rtol=1e-5, atol=1e-6)
    trained = seen.batches[4 * epoch + 3]
    assert not all(np.allclose(k, w) for k, w in zip(kept, trained))  # not the weights as trained
    if validate:  # each epoch was validated with its average (the kept model is compiled as trained)
        scores = model.evaluate(make_dataset(*val, NUM_CLASSES, 8, False), verbose=0, return_dict=True)
        np.testing.assert_allclose(scores["loss"], history["val_loss"][epoch], rtol=1e-4)


def test_time_left_is_said_between_epochs(capsys):
    for early_stopping, bound in [(False, "about"), (True, "at most")]:
        time_left = TimeLeft(early_stopping, clock=iter([0.0, 120.0, 240.0]).__next__)
        time_left.set_params({"epochs": 5})
        time_left.on_train_begin()
        for epoch in range(3):
            time_left.on_epoch_begin(epoch)
        assert capsys.readouterr().out.splitlines() == [
            f"train: 1/5 epochs in 2.0 min, {bound} 8.0 min to go",
            f"train: 2/5 epochs in 4.0 min, {bound} 6.0 min to go",
        ]


def test_cosine_schedule_warms_up_then_decays_to_zero_at_the_planned_end():
    curve = CosineSchedule(1e-3, warmup_epochs=2, epochs=10, steps_per_epoch=5)
    rates = [curve.rate(step) for step in range(51)]
    assert rates[0] == pytest.approx(1e-5) and rates[10] == pytest.approx(1e-3)
    assert all(a < b for a, b in zip(rates[:10], rates[1:11]))  # warm-up
    assert all(a > b for a, b in zip(rates[10:50], rates[11:51]))  # decay
    assert rates[50] == pytest.approx(0.0, abs=1e-12)
    keras_curve = keras.optimizers.schedules.CosineDecay(1e-5, 40, warmup_target=1e-3, warmup_steps=10)
    np.testing.assert_allclose(rates, [float(keras_curve(step)) for step in range(51)], rtol=1e-5, atol=1e-10)
    curve.plan(6)  # a budget cut: the same warm-up, the decay ends at epoch 6
    assert curve.rate(10) == pytest.approx(1e-3) and curve.rate(30) == pytest.approx(0.0, abs=1e-12)
    assert curve.rate(20) == pytest.approx(0.5e-3)


@pytest.mark.parametrize(("epochs", "warmup_steps"), [(3, 10), (2, 5), (1, 3)])
def test_a_plan_cut_into_the_warm_up_still_ends_decayed(epochs, warmup_steps):
    """A budget that leaves no more epochs than the warm-up (2 here) keeps the last for the decay."""
    curve = CosineSchedule(1e-3, warmup_epochs=2, epochs=10, steps_per_epoch=5)
    curve.plan(epochs)
    end = 5 * epochs
    rates = [curve.rate(step) for step in range(end + 1)]
    assert curve.warmup_steps == warmup_steps
    assert rates[warmup_steps] == pytest.approx(1e-3) and rates[end] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(rates[warmup_steps:end], rates[warmup_steps + 1 :]))


class Fitting:
    stop_training = False


@pytest.mark.parametrize("validate", [False, True])
def test_a_time_budget_cuts_the_epochs_and_the_schedule_ends_with_them(capsys, validate):
    # a 10-minute budget, 8 epochs asked; epochs end at 4.0 (tracing, caching), 6.6 and 9.6 min
    minutes = iter([0.0, 4.0, 4.0, 6.6, 6.6, 9.6])
    schedule = CosineSchedule(1e-3, warmup_epochs=0, epochs=8, steps_per_epoch=5)
    time_left = TimeLeft(validate, lambda: 60 * next(minutes), budget_minutes=10, schedule=schedule)
    time_left.set_params({"epochs": 8})
    time_left.set_model(fitting := Fitting())
    time_left.on_train_begin()
    epoch, plans = 0, []
    while not fitting.stop_training:
        time_left.on_epoch_begin(epoch)
        time_left.on_epoch_end(epoch)
        plans.append(schedule.epochs)
        epoch += 1
    time_left.on_train_end()
    assert epoch == 3 and plans == [2, 3, 3] and schedule.rate(15) == pytest.approx(0.0, abs=1e-12)
    bound = "at most" if validate else "about"
    assert capsys.readouterr().out.splitlines() == [
        f"train: 1/2 epochs in 4.0 min, {bound} 4.0 min to go; 2 fit the 10-min budget (train.max_minutes)",
        f"train: 2/3 epochs in 6.6 min, {bound} 3.3 min to go; 3 fit the 10-min budget (train.max_minutes)",
        "train: stopped at 3 of 8 epochs: more would end past the 10-min budget (train.max_minutes)",
    ]
    for budget in (0, 10):  # no budget: no plan; early stopping before the plan ends: no budget line
        other = TimeLeft(validate, iter([0.0, 120.0]).__next__, budget_minutes=budget)
        other.set_params({"epochs": 8})
        other.set_model(fitting := Fitting())
        other.on_train_begin()
        other.on_epoch_end(0)
        other.on_train_end()
        assert not fitting.stop_training and other.planned == {0: 8, 10: 5}[budget]
    assert capsys.readouterr().out == ""


def test_a_time_budget_stops_a_real_fit(tmp_path, capsys):
    images, labels = faces(32)
    config = train_config(epochs=3, lr_schedule="cosine", warmup_epochs=1, max_minutes=1e-6)
    _, history, summary = train(config, (images, labels), (images[:8], labels[:8]), NUM_CLASSES, tmp_path)
    assert summary["epochs_run"] == len(history["loss"]) == 1
    said = capsys.readouterr().out
    assert "train: stopped at 1 of 3 epochs: more would end past the 1e-06-min budget" in said


def test_mixed_bfloat16_training_exports_a_matching_float32_tflite(tmp_path):
    images, labels = faces(32)
    config = train_config(precision="mixed_bfloat16", epochs=2, lr_schedule="cosine", warmup_epochs=1)
    model, history, _ = train(config, (images, labels), (images[:8], labels[:8]), NUM_CLASSES, tmp_path)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after training
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()

    pixels = images[:6, ..., None].astype(np.float32)
    path = tmp_path / "float32.tflite"
    path.write_bytes(to_tflite(model, "float32"))
    np.testing.assert_allclose(
        TFLiteClassifier(path).predict(pixels), model.predict(pixels, verbose=0), atol=1e-4
    )


def test_train_speed_times_the_model_with_nested_settings(tmp_path):
    from stressvision.fileio import save_arrays

    images, labels = faces(64)
    save_arrays(tmp_path / "train.npz", images=images, labels=labels)
    settings = ["model=custom_light", "input_size=48", "augmentation.warp=single", "augmentation.zoom=0.1"]
    command = [sys.executable, "-m", "benchmarks.train_speed", "--train", str(tmp_path / "train.npz")]
    command += [*(arg for s in settings for arg in ("--set", s)), "--warmup", "1", "--steps", "2"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "train_speed: custom_light 48px" in result.stdout
    assert "one epoch of 64 faces (2 steps)" in result.stdout


def test_every_profile_applies_to_params_yaml():
    assert set(FACE_PROFILES) <= set(available())
    for name in available():  # every profile, the voice branch's too, names real keys
        command = exp_run_command(name, ["--queue"])
        assert command[:3] == ["dvc", "exp", "run"] and command[-1] == "--queue"
        keys = {arg.split("=")[0] for arg in command[4:-1:2]}
        assert name not in FACE_PROFILES or "train.model" in keys, name
    overrides = yaml.safe_load((PROFILES_DIR / "realtime.yaml").read_text())
    assert overrides["train"]["model"] == "custom_light" and overrides["train"]["input_size"] == 120


def test_profile_set_args_and_key_checks():
    params = default_params()
    overrides = {
        "train.model": "resnet18",
        "train.augmentation.brightness": [0.8, 1.2],
        "evaluate.tta": "flip",
    }
    check_keys(overrides, params, "p.yaml")
    assert set_args(overrides) == [
        *("-S", "train.model=resnet18"),
        *("-S", "train.augmentation.brightness=[0.8, 1.2]"),
        *("-S", "evaluate.tta=flip"),
    ]
    assert set_args({"train.distill.teacher": ""}) == ["-S", "train.distill.teacher=''"]
    command = exp_run_command("realtime", overrides={"train.input_size": 96})
    assert [arg for arg in command if arg.startswith("train.input_size")] == ["train.input_size=96"]
    with pytest.raises(ProfileError, match=r"^p.yaml: train.modle: not a key of params.yaml \(a typo\?\)$"):
        check_keys({"train.modle": "x"}, params, "p.yaml")
    with pytest.raises(ProfileError, match=r"^p.yaml: train.augmentation: a section of params.yaml"):
        check_keys({"train.augmentation": 1}, params, "p.yaml")
    extra = ["-S", "train.epochs=3", "--set-param=train.seed=1", "-S", "params.yaml:train.batch_size=8"]
    extra += ["-S", "+train.new_key=1", "-S", "other.yaml:x=1", "-Strain.dropout=0.2", "--queue"]
    assert set_param_keys(extra) == ["train.epochs", "train.seed", "train.batch_size", "train.dropout"]
    assert exp_run_command("realtime", extra)[-len(extra) :] == extra
    for typo in (["-S", "train.nope=1"], ["-Strain.nope=1"], ["--set-param", "train.nope=1"]):
        with pytest.raises(ProfileError, match=r"^-S: train.nope: not a key of params.yaml \(a typo\?\)$"):
            exp_run_command("realtime", ["-S", "train.epochs=3", *typo])
    home = str(Path.home())
    tilde = ["-S", "download.fer2013_archive=~/fer.zip", "-Sdownload.kaggle_dataset=~", "-S", "train.seed=1"]
    assert expand_home(tilde) == [
        *("-S", f"download.fer2013_archive={home}/fer.zip"),
        *(f"-Sdownload.kaggle_dataset={home}", "-S", "train.seed=1"),
    ]
    assert exp_run_command("realtime", tilde)[-len(tilde) :] == expand_home(tilde)


def test_run_profile_script_rejects_bad_profiles_in_one_line(tmp_path):
    command = ["bash", "scripts/run_profile.sh", "no_such_profile"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error [profile]: no profile 'no_such_profile' (")
    assert len(result.stderr.strip().splitlines()) == 1
    typo = ["bash", "scripts/run_profile.sh", "realtime", "-S", "train.epoch=3"]
    result = subprocess.run(typo, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "error [profile]: -S: train.epoch: not a key of params.yaml (a typo?)\n"
    shown = subprocess.run(
        [sys.executable, "-m", "stressvision.profiles", "show", "realtime", "--queue"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert shown.stdout.startswith("dvc exp run -S train.model=custom_light")
    assert shown.stdout.strip().endswith("--queue")


def test_run_profile_without_dvc_on_the_path_is_one_line(tmp_path, monkeypatch, capsys):
    """A new shell without the .venv activated: one line, not execvp's traceback."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemExit) as stopped:
        profiles_main(["run", "realtime"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "error [profile]: dvc: command not found; activate the environment that has it"
        " (. .venv/bin/activate)\n"
    )


def test_an_interrupted_fit_leaves_no_training_log(tmp_path):
    """Ctrl-C after some epochs: DVCLive's log of them must not pass for the stage's result."""
    live_dir = tmp_path / "dvclive"

    def fit(work_dir, callbacks):
        live = callbacks[0].live
        live.log_metric("train/accuracy", 0.3)
        live.next_step()
        assert list(tmp_path.glob(".dvclive.*.tmp/metrics.json"))  # DVCLive logs as the epochs go
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_and_save(fit, live_dir, tmp_path / "model.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_killed_fit_leaves_no_partial_training_log(tmp_path):
    """SIGKILL (the OOM killer) mid-fit runs no clean-up: the epochs DVCLive had logged must not
    be left in the live folder, where `dvc plots` would draw them as the stage's curves."""
    live_dir, model_path = tmp_path / "dvclive", tmp_path / "model.keras"
    killed = textwrap.dedent(
        f"""
        import os, signal
        from stressvision.fitting import fit_and_save

        def fit(work_dir, callbacks):
            callbacks[0].live.log_metric("train/accuracy", 0.3)
            callbacks[0].live.next_step()
            os.kill(os.getpid(), signal.SIGKILL)

        fit_and_save(fit, {str(live_dir)!r}, {str(model_path)!r})
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", killed], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300
    )
    assert result.returncode == -signal.SIGKILL
    assert not live_dir.exists()

    def fit(work_dir, callbacks):  # the rerun clears what the killed fit left
        callbacks[0].live.log_metric("train/accuracy", 0.5)
        callbacks[0].live.next_step()
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        return model, {"loss": [1.0]}, {}

    fit_and_save(fit, live_dir, model_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dvclive", "model.keras"]
    assert (live_dir / "metrics.json").is_file()


def test_ctrl_c_swallowed_by_an_import_is_still_one_line(capsys):
    """Ctrl-C inside numpy's C import (Keras loading) surfaces as an ImportError that blames the
    install: after a Ctrl-C, whatever main() raises is the interrupt's one line and status 130."""
    from stressvision.stage import run_stage

    def interrupted_import():
        with contextlib.suppress(KeyboardInterrupt):  # C code running as it arrives drops it
            signal.raise_signal(signal.SIGINT)
        raise ImportError('PyCapsule_Import could not import module "datetime"')

    def swallowed_whole():
        with contextlib.suppress(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)

    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # a stage process's
    try:
        for main in (interrupted_import, swallowed_whole):
            with pytest.raises(SystemExit) as stopped:
                run_stage("evaluate", main)
            assert stopped.value.code == 130
            assert capsys.readouterr().err == (
                "error [evaluate]: interrupted; no output was half-written, rerun `dvc repro`\n"
            )
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_teacher_that_is_not_a_face_model_is_a_params_error(tmp_path):
    """A teacher file Keras cannot read, or one taking other input than 48x48x1 faces, stops
    training at once with one line naming the key (not a traceback mid-fit)."""
    from stressvision.training import DistillConfig, load_teacher

    (tmp_path / "junk.keras").write_bytes(b"junk")
    rgb = keras.Sequential(
        [keras.Input((96, 96, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]
    )
    rgb.save(tmp_path / "rgb.keras")
    MODEL_BUILDERS["custom_light"](NUM_CLASSES, input_size=48).save(tmp_path / "face.keras")
    assert (
        load_teacher(DistillConfig(teacher=str(tmp_path / "face.keras")), NUM_CLASSES).output_shape[-1] == 3
    )
    for name, problem in (("junk", "not a .keras model"), ("rgb", "takes input (None, 96, 96, 3)")):
        with pytest.raises(ParamsError, match=rf"train\.distill\.teacher: .*{re.escape(problem)}"):
            load_teacher(DistillConfig(teacher=str(tmp_path / f"{name}.keras")), NUM_CLASSES)


def test_scripts_say_how_to_rerun_after_ctrl_c(capsys):
    from stressvision.stage import run_stage

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stopped:
        run_stage("package_model", interrupted, rerun="run it again")
    assert stopped.value.code == 130
    assert (
        capsys.readouterr().err
        == "error [package_model]: interrupted; no output was half-written, run it again\n"
    )
