"""Training: a tf.data input pipeline, callbacks and the fit loop for any registered model."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from stressvision.augment import AugmentConfig, build_augmenter
from stressvision.models import MODEL_BUILDERS
from stressvision.params import Section

DISTRIBUTE = ("none", "mirrored", "multi_worker")


@dataclass(frozen=True)
class TrainConfig:
    model: str
    input_size: int
    dropout: float
    dense_units: int
    epochs: int
    batch_size: int
    learning_rate: float
    early_stopping_patience: int
    lr_factor: float
    lr_patience: int
    label_smoothing: float
    class_weights: bool
    augment: bool
    augmentation: AugmentConfig
    seed: int
    tensorboard: bool
    distribute: str

    @classmethod
    def from_section(cls, section: Section) -> TrainConfig:
        config = cls(
            model=section.choice("model", tuple(MODEL_BUILDERS)),
            input_size=section.int("input_size", minimum=32),
            dropout=section.float("dropout", minimum=0.0, maximum=0.9),
            dense_units=section.int("dense_units", minimum=1),
            epochs=section.int("epochs", minimum=1),
            batch_size=section.int("batch_size", minimum=1),
            learning_rate=section.float("learning_rate", minimum=1e-7, maximum=1.0),
            early_stopping_patience=section.int("early_stopping_patience", minimum=1),
            lr_factor=section.float("lr_factor", minimum=0.01, maximum=0.99),
            lr_patience=section.int("lr_patience", minimum=1),
            label_smoothing=section.float("label_smoothing", minimum=0.0, maximum=0.5),
            class_weights=section.bool("class_weights"),
            augment=section.bool("augment"),
            augmentation=AugmentConfig.from_section(section.sub("augmentation")),
            seed=section.int("seed"),
            tensorboard=section.bool("tensorboard"),
            distribute=section.choice("distribute", DISTRIBUTE),
        )
        section.check_no_extra_keys()
        return config


def build_model(config: TrainConfig, num_classes: int) -> keras.Model:
    return MODEL_BUILDERS[config.model](
        num_classes=num_classes,
        input_size=config.input_size,
        dropout=config.dropout,
        dense_units=config.dense_units,
    )


def distribution_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy for `train.distribute`.

    mirrored: synchronous data parallelism over this machine's GPUs (or, without GPUs, over
    its logical CPU devices when there are several). multi_worker: the same across machines,
    each worker reading its role from the TF_CONFIG environment variable.
    """
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()  # the default, single-device strategy


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    batch_size: int,
    shuffle: bool,
    augment=None,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of (float32 pixels (B, 48, 48, 1), one-hot labels), prefetched.

    The uint8 arrays stay in memory (FER-2013 is 80 MB); shuffling, batching and the
    augmentation map run in parallel with training so the model never waits on input.
    """
    x = images[..., None] if images.ndim == 3 else images
    ds = tf.data.Dataset.from_tensor_slices((x, labels.astype(np.int32)))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def to_float(batch_x, batch_y):
        return tf.cast(batch_x, tf.float32), tf.one_hot(batch_y, num_classes)

    ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
        ds = ds.map(lambda bx, by: (augment(bx), by), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """n / (k * count): each class contributes equally to the loss."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = len(labels) / (num_classes * np.maximum(counts, 1))
    return {i: float(w) for i, w in enumerate(weights)}


def compile_model(model: keras.Model, config: TrainConfig) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[
            "accuracy",
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
            keras.metrics.AUC(name="auc"),
        ],
    )


def train(
    config: TrainConfig,
    train_data: tuple[np.ndarray, np.ndarray],
    val_data: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    work_dir: str | os.PathLike,
    extra_callbacks: list | None = None,
    tensorboard_dir: str | os.PathLike = "logs/tensorboard",
) -> tuple[keras.Model, dict[str, list[float]], dict[str, float]]:
    """Fit with early stopping, LR decay and a best-on-val checkpoint; return the best model."""
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()  # same params, same model: runs compare
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = work_dir / "best.keras"

    augment = build_augmenter(config.augmentation, config.seed) if config.augment else None
    train_ds = make_dataset(*train_data, num_classes, config.batch_size, True, augment, config.seed)
    val_ds = make_dataset(*val_data, num_classes, config.batch_size, False)

    strategy = distribution_strategy(config.distribute)
    with strategy.scope():
        model = build_model(config, num_classes)
        compile_model(model, config)
    if strategy.num_replicas_in_sync > 1:
        print(
            f"train: {config.distribute} strategy over {strategy.num_replicas_in_sync} replicas", flush=True
        )
    callbacks = [
        keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_accuracy", save_best_only=True),
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=config.early_stopping_patience, mode="max"
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=config.lr_factor, patience=config.lr_patience, min_lr=1e-6
        ),
        *(extra_callbacks or []),
    ]
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir)))
    weights = balanced_class_weights(train_data[1], num_classes) if config.class_weights else None

    started = time.perf_counter()
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        class_weight=weights,
        callbacks=callbacks,
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=2,
    )
    seconds = time.perf_counter() - started
    best = keras.models.load_model(checkpoint)
    val_acc = history.history["val_accuracy"]
    best_epoch = int(np.argmax(val_acc))
    summary = {
        "epochs_run": len(val_acc),
        "best_epoch": best_epoch + 1,
        "train_seconds": round(seconds, 2),
        "params": int(best.count_params()),
        **{
            key: float(values[best_epoch])
            for key, values in history.history.items()
            if key != "learning_rate"
        },
    }
    return best, history.history, summary
