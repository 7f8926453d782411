"""Training voice models: SpecAugment masks and mixup in a tf.data pipeline, then the fit loop."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from stressvision.augment import batch_seeds, mixup
from stressvision.errors import ParamsError
from stressvision.fitting import balanced_class_weights, fit_summary
from stressvision.params import Section
from stressvision.voice.features import STATISTICS_KINDS
from stressvision.voice.models import VOICE_MODELS
from stressvision.voice.softmax_regression import (
    SoftmaxRegression,
    fit_softmax_regression,
    penalised_cross_entropy,
)

MODEL_FEATURES = {
    "functionals_mlp": STATISTICS_KINDS,
    "linear_softmax": STATISTICS_KINDS,
    "cnn_logmel": ("logmel", "mfcc"),
    "lstm_baseline": ("mfcc_mean",),
}
LR_SCHEDULES = ("constant", "cosine")
L2_MODELS = ("functionals_mlp", "linear_softmax")  # the models whose dense layers take voice_train.l2
SOLVERS = ("adam", "lbfgs")  # lbfgs: the convex linear_softmax only, solved to its optimum
PROGRESS_SECONDS = 10.0  # lbfgs: at most one progress line this often (a run is silent otherwise)


@dataclass(frozen=True)
class SpecAugmentConfig:
    time_masks: int
    time_width: int  # frames
    freq_masks: int
    freq_width: int  # feature bins

    @classmethod
    def from_section(cls, section: Section) -> SpecAugmentConfig:
        config = cls(
            time_masks=section.int("time_masks", minimum=0),
            time_width=section.int("time_width", minimum=1),
            freq_masks=section.int("freq_masks", minimum=0),
            freq_width=section.int("freq_width", minimum=1),
        )
        section.check_no_extra_keys()
        return config


@dataclass(frozen=True)
class VoiceTrainConfig:
    model: str
    solver: str  # adam (minibatches) | lbfgs (full batch, `epochs` = at most that many iterations)
    epochs: int
    batch_size: int
    learning_rate: float
    lr_schedule: str
    keep: str  # last | best: with one or two validation speakers, "best" picks noise
    dropout: float
    l2: float  # L2 penalty of the dense layers (L2_MODELS)
    early_stopping_patience: int  # 0: train every epoch, keep the best on validation
    class_weights: bool
    mixup_alpha: float
    spec_augment: SpecAugmentConfig
    seed: int

    @classmethod
    def from_section(cls, section: Section, feature_kind: str) -> VoiceTrainConfig:
        config = cls(
            model=section.choice("model", tuple(VOICE_MODELS)),
            solver=section.choice("solver", SOLVERS),
            epochs=section.int("epochs", minimum=1),
            batch_size=section.int("batch_size", minimum=1),
            learning_rate=section.float("learning_rate", minimum=1e-7, maximum=1.0),
            lr_schedule=section.choice("lr_schedule", LR_SCHEDULES),
            keep=section.choice("keep", ("last", "best")),
            dropout=section.float("dropout", minimum=0.0, maximum=0.9),
            l2=section.float("l2", minimum=0.0, maximum=10.0),
            early_stopping_patience=section.int("early_stopping_patience", minimum=0),
            class_weights=section.bool("class_weights"),
            mixup_alpha=section.float("mixup_alpha", minimum=0.0, maximum=10.0),
            spec_augment=SpecAugmentConfig.from_section(section.sub("spec_augment")),
            seed=section.seed(),
        )
        section.check_no_extra_keys()
        if feature_kind not in MODEL_FEATURES[config.model]:
            raise ParamsError(
                section.key("model"),
                f"{config.model} needs voice_features.kind {' or '.join(MODEL_FEATURES[config.model])}, "
                f"the features are {feature_kind}; set both (see README: Voice parameters)",
            )
        if config.solver == "lbfgs":
            if config.model != "linear_softmax":
                raise ParamsError(
                    section.key("solver"),
                    f"lbfgs solves the convex linear_softmax only, not {config.model}; use solver: adam",
                )
            for key, value in (("dropout", config.dropout), ("mixup_alpha", config.mixup_alpha)):
                if value:
                    raise ParamsError(
                        section.key(key),
                        "must be 0 with solver: lbfgs (it minimises one fixed loss); "
                        "set it to 0 or use solver: adam",
                    )
        return config


def _masks(x: tf.Tensor, seed: tf.Tensor, axis: int, count: int, width: int) -> tf.Tensor:
    """Zero `count` random bands of up to `width` along `axis` (1 time, 2 frequency) per example."""
    batch, length = tf.shape(x)[0], x.shape[axis]
    width = min(width, length)
    positions = tf.range(length)[None, :]
    for i in range(count):
        w = tf.random.stateless_uniform([batch, 1], seed + [i, axis], 0, width + 1, tf.int32)
        start = tf.random.stateless_uniform([batch, 1], seed + [i, axis + 7], 0, length - width + 1, tf.int32)
        keep = tf.cast(~((positions >= start) & (positions < start + w)), x.dtype)
        x = x * (keep[:, :, None] if axis == 1 else keep[:, None, :])
    return x


def make_voice_dataset(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    batch_size: int,
    train: bool,
    config: VoiceTrainConfig | None = None,
) -> tf.data.Dataset:
    """Batches of (features, one-hot labels); for training shuffled, masked and mixed up.

    Random draws are stateless and seeded per batch, so a rerun with the same seed sees
    exactly the same augmented batches.
    """
    ds = tf.data.Dataset.from_tensor_slices((features.astype(np.float32), labels.astype(np.int32)))
    ds = ds.map(lambda x, y: (x, tf.one_hot(y, num_classes)))
    if not train or config is None:
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    ds = ds.shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True).batch(batch_size)
    seeds = batch_seeds(config.seed)
    sa, alpha = config.spec_augment, config.mixup_alpha
    sequence = features.ndim == 3  # (time, bins); the baseline's (40, 1) vector is not masked

    def augment(batch: tuple[tf.Tensor, tf.Tensor], seed: tf.Tensor):
        x, y = batch
        if sequence:
            x = _masks(x, seed, 1, sa.time_masks, sa.time_width)
            x = _masks(x, seed, 2, sa.freq_masks, sa.freq_width)
        if alpha > 0:
            x, y = mixup((x, y), alpha, seed)
        return x, y

    ds = tf.data.Dataset.zip((ds, seeds)).map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def build_voice_model(
    config: VoiceTrainConfig, input_shape: tuple[int, ...], num_classes: int
) -> keras.Model:
    extra = {"l2": config.l2} if config.model in L2_MODELS else {}
    return VOICE_MODELS[config.model](
        num_classes=num_classes, input_shape=input_shape, dropout=config.dropout, **extra
    )


def train_voice_model(
    config: VoiceTrainConfig,
    train_data: tuple[np.ndarray, np.ndarray],
    val_data: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    work_dir: str | os.PathLike,
    extra_callbacks: list | None = None,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, float]]:
    """Fit; return the model of the last epoch or of the one best on validation accuracy.

    With no validation speakers (`voice_split.val: 0`: every non-test speaker trains) the
    last epoch is kept; choosing an epoch or stopping early needs validation speakers.
    """
    validate = len(val_data[1]) > 0
    if not validate and (config.keep == "best" or config.early_stopping_patience):
        raise ParamsError(
            "voice_split.val",
            "0 leaves no validation speakers, which voice_train.keep: best and early stopping need; "
            "set voice_split.val > 0 or name val_speakers, or keep: last with early_stopping_patience: 0",
        )
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    if config.solver == "lbfgs":
        return _train_lbfgs(config, train_data, val_data, num_classes, extra_callbacks)
    checkpoint = Path(work_dir) / "best.keras"
    train_ds = make_voice_dataset(*train_data, num_classes, config.batch_size, True, config)
    val_ds = make_voice_dataset(*val_data, num_classes, config.batch_size, False) if validate else None
    model = build_voice_model(config, train_data[0].shape[1:], num_classes)
    steps = config.epochs * int(np.ceil(len(train_data[1]) / config.batch_size))
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = config.learning_rate
    if config.lr_schedule == "cosine":  # warm up over the first 5% of steps, then decay to 0
        warmup = max(1, steps // 20)
        learning_rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate / 10, steps - warmup, warmup_target=config.learning_rate, warmup_steps=warmup
        )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    callbacks = list(extra_callbacks or [])
    if config.keep == "best":
        callbacks.append(
            keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_accuracy", save_best_only=True)
        )
    if config.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=config.early_stopping_patience, mode="max"
            )
        )
    weights = balanced_class_weights(train_data[1], num_classes) if config.class_weights else None
    started = time.perf_counter()
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        class_weight=weights,
        callbacks=callbacks,
        verbose=2,
    )
    seconds = time.perf_counter() - started
    if config.keep == "best":
        kept_epoch = int(np.argmax(history.history["val_accuracy"]))
        best = keras.models.load_model(checkpoint)
    else:
        kept_epoch, best = len(history.history["loss"]) - 1, model
    summary = fit_summary(history.history, int(best.count_params()), kept_epoch, seconds, "kept_epoch")
    return best, history.history, summary


def _train_lbfgs(
    config: VoiceTrainConfig,
    train_data: tuple[np.ndarray, np.ndarray],
    val_data: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    extra_callbacks: list | None,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, float]]:
    """linear_softmax by full-batch L-BFGS; each iteration is logged as an epoch would be."""
    (x, y), (x_val, y_val) = train_data, val_data
    validate = len(y_val) > 0
    weights = np.ones(len(y))
    if config.class_weights:
        weights = np.array(list(balanced_class_weights(y, num_classes).values()))[y]
    model = build_voice_model(config, x.shape[1:], num_classes)
    callbacks = keras.callbacks.CallbackList(extra_callbacks or [], model=model)
    history: dict[str, list[float]] = {}
    kept: list[SoftmaxRegression] = []
    stopped_early = [False]
    patience = config.early_stopping_patience

    def on_iteration(fit: SoftmaxRegression) -> bool:
        probabilities = fit.probabilities(x)
        logs = {
            "loss": penalised_cross_entropy(probabilities, y, weights, fit.kernel, config.l2),
            "accuracy": float((probabilities.argmax(1) == y).mean()),
        }
        if validate:
            val_probabilities = fit.probabilities(x_val)
            logs["val_loss"] = penalised_cross_entropy(
                val_probabilities, y_val, np.ones(len(y_val)), fit.kernel, config.l2
            )
            logs["val_accuracy"] = float((val_probabilities.argmax(1) == y_val).mean())
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        callbacks.on_epoch_end(fit.iterations - 1, logs)
        if time.perf_counter() - last_report[0] >= PROGRESS_SECONDS:
            last_report[0] = time.perf_counter()
            shown = ", ".join(f"{key} {value:.4f}" for key, value in logs.items())
            elapsed = last_report[0] - started
            print(f"lbfgs: iteration {fit.iterations}/{config.epochs}, {shown}, {elapsed:.0f}s", flush=True)
        if config.keep == "last" or not kept or logs["val_accuracy"] > max(history["val_accuracy"][:-1]):
            kept[:] = [fit]
        best = int(np.argmax(history["val_accuracy"])) if validate else fit.iterations - 1
        stopped_early[:] = [bool(patience) and fit.iterations - 1 - best >= patience]
        return stopped_early[0]

    started = time.perf_counter()
    last_report = [started]
    callbacks.on_train_begin()
    final = fit_softmax_regression(x, y, num_classes, config.l2, weights, config.epochs, on_iteration)
    callbacks.on_train_end()
    seconds = time.perf_counter() - started
    if config.keep == "last":
        kept[:] = [final]
    chosen = kept[0]
    model.get_layer("probabilities").set_weights(
        [chosen.kernel.astype(np.float32), chosen.bias.astype(np.float32)]
    )
    if final.converged:
        status = "converged"
    elif final.iterations >= config.epochs:
        status = "not converged: raise voice_train.epochs"
    elif stopped_early[0]:
        status = f"stopped early ({patience} iterations without a validation gain)"
    else:
        status = "stopped by L-BFGS before converging"
    print(f"lbfgs: {final.iterations} iterations, {status}", flush=True)
    summary = fit_summary(history, int(model.count_params()), chosen.iterations - 1, seconds, "kept_epoch")
    summary["converged"] = final.converged
    return model, history, summary
