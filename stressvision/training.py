"""Training: a tf.data input pipeline, callbacks and the fit loop for any registered model."""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from stressvision.augment import AugmentConfig, batch_seeds, build_augmenter, mixup
from stressvision.distillation import Distiller, SoftTargetDistiller
from stressvision.errors import DataError, ParamsError
from stressvision.fitting import balanced_class_weights, fit_summary
from stressvision.hardware import cpu_flags, cpu_vendor, gpu_count, resolve_precision
from stressvision.heads import HeadsAccuracy, HeadsLoss, head_targets
from stressvision.models import MODEL_BUILDERS, add_class_head, float32_copy, load_face_model
from stressvision.params import Section

DISTRIBUTE = ("none", "mirrored", "multi_worker")
LR_SCHEDULES = ("plateau", "cosine")
OPTIMIZERS = ("adam", "sgd")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
MAX_INPUT_SIZE = 512  # pixels a side, of 48x48 faces upscaled (10**12 was a Keras traceback)
MAX_UNITS = 16_384  # dense units: the VGG paper's 4096 at train.width's maximum, 4 (10**12: out of memory)


@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation from a trained teacher model, or from its probabilities stored per
    face (`soft_labels`, see stressvision.soft_labels); off while both are empty."""

    teacher: str = ""
    soft_labels: str = ""
    alpha: float = 0.5
    temperature: float = 4.0

    @property
    def enabled(self) -> bool:
        return bool(self.teacher or self.soft_labels)

    @classmethod
    def from_section(cls, section: Section) -> DistillConfig:
        teacher = section.raw("teacher")
        if not isinstance(teacher, str):
            raise ParamsError(section.key("teacher"), f'expected "" or a .keras model path, got {teacher!r}')
        if teacher and (not teacher.endswith(".keras") or not Path(teacher).is_file()):
            raise ParamsError(section.key("teacher"), f"{teacher!r} is not a .keras model file")
        soft_labels = section.raw("soft_labels", "")
        if not isinstance(soft_labels, str) or (soft_labels and not soft_labels.endswith(".npz")):
            raise ParamsError(
                section.key("soft_labels"),
                f'expected "" or a .npz file of scripts/soft_labels.py, got {soft_labels!r}',
            )
        if soft_labels and not Path(soft_labels).is_file():
            raise ParamsError(section.key("soft_labels"), f"{soft_labels!r} does not exist")
        if soft_labels and teacher:
            raise ParamsError(section.key("soft_labels"), "set teacher or soft_labels, not both")
        config = cls(
            teacher=teacher,
            soft_labels=soft_labels,
            alpha=section.float("alpha", minimum=0.0, maximum=1.0),
            temperature=section.float("temperature", minimum=1.0, maximum=20.0),
        )
        section.check_no_extra_keys()
        return config


@dataclass(frozen=True)
class TrainConfig:
    model: str
    input_size: int
    dropout: float
    dense_units: int
    weights: str
    trainable_layers: int
    width: float
    fc_units: int
    fc_batchnorm: bool
    epochs: int
    max_minutes: float
    batch_size: int
    optimizer: str
    learning_rate: float
    weight_decay: float
    early_stopping_patience: int
    lr_schedule: str
    lr_factor: float
    lr_patience: int
    warmup_epochs: int
    label_smoothing: float
    mixup_alpha: float
    ema: float
    class_weights: bool
    class_head: bool
    augment: bool
    augmentation: AugmentConfig
    cache: bool
    precision: str
    distill: DistillConfig
    seed: int
    tensorboard: bool
    distribute: str

    @classmethod
    def from_section(cls, section: Section) -> TrainConfig:
        config = cls(
            model=section.choice("model", tuple(MODEL_BUILDERS)),
            input_size=section.int("input_size", minimum=32, maximum=MAX_INPUT_SIZE),
            dropout=section.float("dropout", minimum=0.0, maximum=0.9),
            dense_units=section.int("dense_units", minimum=1, maximum=MAX_UNITS),
            weights=weights_param(section),
            trainable_layers=section.int("trainable_layers", minimum=0),
            width=section.float("width", minimum=0.05, maximum=4.0),
            fc_units=section.int("fc_units", minimum=0, maximum=MAX_UNITS),
            fc_batchnorm=section.bool("fc_batchnorm"),
            epochs=section.int("epochs", minimum=1),
            max_minutes=section.float("max_minutes", minimum=0.0),
            batch_size=section.int("batch_size", minimum=1),
            optimizer=section.choice("optimizer", OPTIMIZERS),
            learning_rate=section.float("learning_rate", minimum=1e-7, maximum=1.0),
            weight_decay=section.float("weight_decay", minimum=0.0, maximum=0.1),
            early_stopping_patience=section.int("early_stopping_patience", minimum=1),
            lr_schedule=section.choice("lr_schedule", LR_SCHEDULES),
            lr_factor=section.float("lr_factor", minimum=0.01, maximum=0.99),
            lr_patience=section.int("lr_patience", minimum=1),
            warmup_epochs=section.int("warmup_epochs", minimum=0),
            label_smoothing=section.float("label_smoothing", minimum=0.0, maximum=0.5),
            mixup_alpha=section.float("mixup_alpha", minimum=0.0, maximum=10.0),
            ema=section.float("ema", minimum=0.0, maximum=0.9999),
            class_weights=section.bool("class_weights"),
            class_head=section.bool("class_head"),
            augment=section.bool("augment"),
            augmentation=AugmentConfig.from_section(section.sub("augmentation")),
            cache=section.bool("cache"),
            precision=section.choice("precision", PRECISIONS),
            distill=DistillConfig.from_section(section.sub("distill")),
            seed=section.seed(),
            tensorboard=section.bool("tensorboard"),
            distribute=section.choice("distribute", DISTRIBUTE),
        )
        if config.warmup_epochs >= config.epochs and config.lr_schedule == "cosine":
            raise ParamsError(section.key("warmup_epochs"), f"must be < train.epochs ({config.epochs})")
        if config.class_head and config.distill.enabled:
            raise ParamsError(
                section.key("class_head"), "distillation (train.distill) teaches one head: set one of them"
            )
        section.check_no_extra_keys()
        return config


def weights_param(section: Section) -> str:
    """`train.weights`: imagenet | none | path to a .h5/.weights.h5 file (mobilenetv3_small)."""
    weights = section.str("weights")
    if weights not in ("imagenet", "none") and not weights.endswith(".h5"):
        raise ParamsError(
            section.key("weights"), f"expected imagenet, none or a .h5/.weights.h5 file, got {weights!r}"
        )
    return weights


def build_model(config: TrainConfig, num_classes: int, head_classes: int = 0) -> keras.Model:
    """Call the builder of `config.model` with the config fields it takes, by name; with
    `head_classes` (train.class_head) a second head over that many classes (add_class_head).

    Every builder takes num_classes, input_size and dropout; model-specific keys (weights,
    trainable_layers, width, dense_units, fc_units, fc_batchnorm) go only to the builders that
    declare them.
    """
    builder = MODEL_BUILDERS[config.model]
    accepted = inspect.signature(builder).parameters
    options = {f.name: getattr(config, f.name) for f in fields(config) if f.name in accepted}
    model = builder(num_classes=num_classes, **options)
    return add_class_head(model, head_classes) if head_classes else model


def training_precision(requested: str) -> str:
    """The Keras dtype policy `train.precision` means on this machine, saying why where it is
    not simply what was asked (`auto`), or what it costs here (an emulated precision)."""
    precision, note = resolve_precision(requested, gpu_count(), cpu_flags(), cpu_vendor())
    if note:
        print(f"train: precision {precision} ({note})", flush=True)
    return precision


def build_float32(
    config: TrainConfig, num_classes: int, trained: keras.Model, head_classes: int = 0
) -> keras.Model:
    """The same network in float32 with the trained weights (see models.float32_copy)."""
    return float32_copy(lambda: build_model(config, num_classes, head_classes), trained)


def load_teacher(config: DistillConfig, num_classes: int) -> keras.Model:
    """The teacher model: a face model of this project predicting the data's classes."""
    try:
        return load_face_model(config.teacher, num_classes)
    except DataError as error:
        raise ParamsError("train.distill.teacher", str(error)) from None


class StudentCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that saves the student, not the distiller wrapped around it."""

    def __init__(self, filepath, student: keras.Model, **kwargs):
        super().__init__(filepath, **kwargs)
        self.student = student

    def set_model(self, model):
        super().set_model(self.student)


class CosineSchedule(keras.callbacks.Callback):
    """The `cosine` learning rate, set before each batch: linear warm-up from 1 % of `peak` over
    `warmup_epochs`, then cosine decay to zero at the end of the last planned epoch (Keras'
    CosineDecay with warm-up, computed in Python: no TensorFlow op per batch).

    Set from a callback rather than compiled into the optimizer so that `plan` can move the
    end while training runs (TimeLeft does under `train.max_minutes`) and the decay still
    reaches zero at the last epoch trained."""

    def __init__(self, peak: float, warmup_epochs: int, epochs: int, steps_per_epoch: int):
        super().__init__()
        self.peak, self.steps_per_epoch = peak, steps_per_epoch
        self.warmup_asked = warmup_epochs * steps_per_epoch
        self.plan(epochs)

    def plan(self, epochs: int) -> None:
        """Decay to zero at the end of epoch `epochs` (1-based). A plan cut to the warm-up or
        shorter keeps its last epoch (or half of one epoch) for the decay, so the model still
        ends at a low rate."""
        self.epochs = epochs
        steps = epochs * self.steps_per_epoch
        self.warmup_steps = min(self.warmup_asked, steps - min(self.steps_per_epoch, steps // 2))
        self.decay_steps = max(1, steps - self.warmup_steps)

    def rate(self, step: int) -> float:
        if step < self.warmup_steps:
            start = self.peak / 100
            return start + (self.peak - start) * step / self.warmup_steps
        done = min(step - self.warmup_steps, self.decay_steps) / self.decay_steps
        return 0.5 * self.peak * (1.0 + math.cos(math.pi * done))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.rate(self.epoch * self.steps_per_epoch + batch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:  # into the history and DVCLive, as ReduceLROnPlateau's rate is
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class WeightAverage(keras.callbacks.Callback):
    """An exponential moving average of the model's weights, batch-norm statistics included,
    updated after every batch, that stands in for the model while it is validated and between
    epochs (so callbacks after this one check and save the average) and stays in it at the end.

    The momentum warms up as TensorFlow's ExponentialMovingAverage with `num_updates` does,
    min(momentum, (1 + t) / (10 + t)) at update t, so that the first weights, far from trained,
    do not weigh in the average for thousands of batches: without it (as Keras' own `use_ema`,
    which also leaves batch-norm statistics out) the average of `real_default` on FER-2013
    validated near chance (0.17-0.33, 4 classes) for three epochs while training reached 0.54.
    Batch-norm statistics are averaged with the weights, as timm's ModelEma does.
    """

    def __init__(self, momentum: float, student: keras.Model):
        super().__init__()
        self.momentum = momentum
        self.student = student
        self.updates = 0
        self.average: list[np.ndarray] | None = None
        self.trained: list[np.ndarray] | None = None  # the weights as trained while the average stands in

    def set_model(self, model):  # the student: a distiller's frozen teacher needs no average
        super().set_model(self.student)

    def on_train_batch_end(self, batch, logs=None):
        weights = self.model.get_weights()
        self.updates += 1
        if self.average is None:
            self.average = weights
            return
        momentum = min(self.momentum, (1 + self.updates) / (10 + self.updates))
        for average, weight in zip(self.average, weights):
            if average.dtype.kind == "f":  # step counters and seeds are not averaged
                average *= momentum
                average += (1.0 - momentum) * weight
            else:
                average[...] = weight

    def use_average(self) -> None:
        if self.trained is None and self.average is not None:
            self.trained = self.model.get_weights()
            self.model.set_weights(self.average)

    def use_trained(self) -> None:
        if self.trained is not None:
            self.model.set_weights(self.trained)
            self.trained = None

    def on_test_begin(self, logs=None):
        self.use_average()

    def on_epoch_end(self, epoch, logs=None):
        self.use_average()

    def on_epoch_begin(self, epoch, logs=None):
        self.use_trained()

    def on_train_end(self, logs=None):
        self.use_average()


class TimeLeft(keras.callbacks.Callback):
    """Before each epoch after the first, how long the epochs still to come take at the mean
    pace so far: a run of hours on a 2-core CPU says early when it ends (at most that, with
    early stopping). Printed as an epoch begins: after Keras' line for the epoch before.

    With a budget (`train.max_minutes` > 0) it also plans: after each epoch, the epochs that
    fit the budget at the mean pace so far (never more than asked, never fewer than run);
    training stops when they are done, and a `CosineSchedule` is re-planned to end with them."""

    def __init__(
        self,
        early_stopping: bool,
        clock: Callable[[], float] = time.perf_counter,
        budget_minutes: float = 0.0,
        schedule: CosineSchedule | None = None,
    ):
        super().__init__()
        self.early_stopping = early_stopping
        self.clock = clock
        self.budget_minutes, self.schedule = budget_minutes, schedule

    def on_train_begin(self, logs=None):
        self.started = self.clock()
        self.planned = self.params["epochs"]
        self.cut, self.stopped = "", False

    def on_epoch_end(self, epoch, logs=None):
        if not self.budget_minutes:
            return
        done, elapsed = epoch + 1, self.clock() - self.started
        fits = int(self.budget_minutes * 60 * done / elapsed) if elapsed > 0 else self.params["epochs"]
        planned = max(done, min(self.params["epochs"], fits))
        if planned != self.planned:
            self.planned = planned
            if self.schedule is not None:
                self.schedule.plan(planned)
            self.cut = f"; {planned} fit the {self.budget_minutes:g}-min budget (train.max_minutes)"
        if done >= planned and done < self.params["epochs"]:
            self.model.stop_training = self.stopped = True

    def on_epoch_begin(self, epoch, logs=None):
        if not epoch:  # `epoch` epochs are done
            return
        elapsed = self.clock() - self.started
        left = (self.planned - epoch) * elapsed / epoch
        print(
            f"train: {epoch}/{self.planned} epochs in {elapsed / 60:.1f} min, "
            f"{'at most' if self.early_stopping else 'about'} {left / 60:.1f} min to go{self.cut}",
            flush=True,
        )
        self.cut = ""

    def on_train_end(self, logs=None):
        if self.stopped:  # not when early stopping ended it first
            print(
                f"train: stopped at {self.planned} of {self.params['epochs']} epochs: more would end past "
                f"the {self.budget_minutes:g}-min budget (train.max_minutes)",
                flush=True,
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
    cache: bool = False,
    soft_targets: np.ndarray | None = None,
    mixup_alpha: float = 0.0,
    targets: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Batches of (float32 pixels (B, 48, 48, 1), one-hot labels), prefetched; with
    `soft_targets` (N, classes) the inputs are (pixels, the batch's soft targets); with
    `targets` (one row per label) label l's target is row l instead of its one-hot.
    `mixup_alpha` > 0 mixes each augmented batch with itself (augment.mixup), targets alike.

    The uint8 arrays stay in memory (FER-2013 is 80 MB); shuffling, batching and the
    augmentation map run in parallel with training so the model never waits on input.
    `cache` keeps the decoded uint8 examples after the first epoch (before shuffling, so
    every epoch still sees a new order and new augmentations).
    """
    x = images[..., None] if images.ndim == 3 else images
    inputs = x if soft_targets is None else (x, soft_targets.astype(np.float32))
    ds = tf.data.Dataset.from_tensor_slices((inputs, labels.astype(np.int32)))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def on_pixels(fn):  # with soft targets the inputs are (pixels, targets): map the pixels only
        return fn if soft_targets is None else lambda inputs: (fn(inputs[0]), inputs[1])

    to_float = on_pixels(lambda bx: tf.cast(bx, tf.float32))
    table = tf.eye(num_classes) if targets is None else tf.constant(targets)  # label l's target: row l
    ds = ds.map(lambda bx, by: (to_float(bx), tf.gather(table, by)), num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
        augment_pixels = on_pixels(augment)
        ds = ds.map(lambda bx, by: (augment_pixels(bx), by), num_parallel_calls=tf.data.AUTOTUNE)
    if mixup_alpha > 0:

        def mix(batch, pair):
            bx, by = batch
            if soft_targets is None:
                return mixup((bx, by), mixup_alpha, pair)
            pixels, soft, by = mixup((*bx, by), mixup_alpha, pair)
            return (pixels, soft), by

        ds = tf.data.Dataset.zip((ds, batch_seeds(seed + 8))).map(mix, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    """`train.optimizer` at `learning_rate` (ReduceLROnPlateau or CosineSchedule move it while
    training): Adam, or SGD with Nesterov momentum 0.9 as the 73.28 % VGG record was trained.
    `weight_decay` is decoupled from the gradient (AdamW-style, for both): each step shrinks the
    weights by learning rate x weight_decay."""
    decay = config.weight_decay or None
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(config.learning_rate, momentum=0.9, nesterov=True, weight_decay=decay)
    return keras.optimizers.Adam(config.learning_rate, weight_decay=decay)


def compile_model(
    model: keras.Model, config: TrainConfig, unit_classes: np.ndarray | None = None
) -> None:
    """`make_optimizer`, label-smoothed cross-entropy, and the metrics the training log keeps.

    With `unit_classes` (train.class_head: the units' (units, classes) 0/1 matrix) the loss is
    both heads' and the one metric the accuracy of their average (heads.HeadsLoss, HeadsAccuracy)."""
    if unit_classes is not None:
        loss = HeadsLoss(len(unit_classes), config.label_smoothing)
        metrics = [HeadsAccuracy(unit_classes)]
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        metrics = [
            "accuracy",
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
            keras.metrics.AUC(name="auc"),
        ]
    model.compile(optimizer=make_optimizer(config), loss=loss, metrics=metrics)


def train(
    config: TrainConfig,
    train_data: tuple[np.ndarray, np.ndarray],
    val_data: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    work_dir: str | os.PathLike,
    extra_callbacks: list | None = None,
    tensorboard_dir: str | os.PathLike = "logs/tensorboard",
    soft_targets: np.ndarray | None = None,
    unit_classes: np.ndarray | None = None,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, float]]:
    """Fit with early stopping, LR decay and a best-on-val checkpoint; return the best model.

    With no validation faces (`split.val: 0`, every official training face trains) nothing
    can pick an epoch: the model of the last epoch is kept, so the schedule must be `cosine`.
    With `ema` > 0 the epochs are validated, picked and kept by their moving average of the
    weights (WeightAverage).

    `soft_targets` (one row per training face, see soft_labels.learned_targets) are what the
    model is distilled from when `config.distill.soft_labels` is set. The returned model is
    always float32 (rebuilt after mixed-precision training) and is the student alone when
    distilling.

    With `train.class_head` the labels are units (`num_classes` of them) and `unit_classes`
    (units, classes; labels.merge_matrix) says each one's class: the model returned outputs
    both heads (models.add_class_head).
    """
    if config.distill.soft_labels and soft_targets is None:
        raise ValueError("train.distill.soft_labels is set: pass the faces' soft_targets")
    if config.class_head and unit_classes is None:
        raise ValueError("train.class_head is set: pass the units' unit_classes")
    heads = unit_classes if config.class_head else None
    head_classes = 0 if heads is None else heads.shape[1]
    targets = None if heads is None else head_targets(heads)
    validate = len(val_data[1]) > 0
    if not validate and config.lr_schedule == "plateau":
        raise ParamsError(
            "train.lr_schedule",
            "plateau watches the validation loss, and split.val: 0 leaves no validation faces: use cosine",
        )
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()  # same params, same model: runs compare
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = work_dir / "best.keras"

    augment = build_augmenter(config.augmentation, config.seed) if config.augment else None
    soft, val_soft = None, None
    if config.distill.soft_labels:  # validation scores the student alone: its targets are the labels
        soft, val_soft = soft_targets, np.eye(num_classes, dtype=np.float32)[val_data[1]]
    train_ds = make_dataset(
        *train_data, num_classes, config.batch_size, True, augment, config.seed, config.cache, soft,
        mixup_alpha=config.mixup_alpha, targets=targets,
    )
    val_ds = None
    if validate:
        val_ds = make_dataset(
            *val_data, num_classes, config.batch_size, False, cache=config.cache, soft_targets=val_soft,
            targets=targets,
        )
    steps_per_epoch = -(-len(train_data[1]) // config.batch_size)

    strategy = distribution_strategy(config.distribute)
    policy = keras.mixed_precision.global_policy()
    precision = training_precision(config.precision)
    keras.mixed_precision.set_global_policy(precision)  # the augmenter above stays float32
    try:
        with strategy.scope():
            student = build_model(config, num_classes, head_classes)
            model = student
            if config.distill.teacher:
                teacher = load_teacher(config.distill, num_classes)
                model = Distiller(student, teacher, config.distill.alpha, config.distill.temperature)
            elif config.distill.soft_labels:
                model = SoftTargetDistiller(student, config.distill.alpha, config.distill.temperature)
            compile_model(model, config, heads)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    if strategy.num_replicas_in_sync > 1:
        print(
            f"train: {config.distribute} strategy over {strategy.num_replicas_in_sync} replicas", flush=True
        )
    if config.distill.enabled:
        print(
            f"train: distilling {config.distill.teacher or config.distill.soft_labels} "
            f"(alpha {config.distill.alpha}, "
            f"T {config.distill.temperature})",
            flush=True,
        )
    callbacks = []
    if config.ema:  # first, so that validation, checkpoint and early stopping see the average
        callbacks.append(WeightAverage(config.ema, student))
    if validate:
        callbacks += [
            StudentCheckpoint(checkpoint, student, monitor="val_accuracy", mode="max", save_best_only=True),
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=config.early_stopping_patience, mode="max"
            ),
        ]
    if config.lr_schedule == "plateau":  # validate is true: refused above otherwise
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=config.lr_factor, patience=config.lr_patience, min_lr=1e-6
            )
        )
    schedule = None
    if config.lr_schedule == "cosine":
        schedule = CosineSchedule(config.learning_rate, config.warmup_epochs, config.epochs, steps_per_epoch)
        callbacks.append(schedule)
    time_left = TimeLeft(early_stopping=validate, budget_minutes=config.max_minutes, schedule=schedule)
    callbacks += [time_left, *(extra_callbacks or [])]
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir)))
    weights = balanced_class_weights(train_data[1], num_classes) if config.class_weights else None

    started = time.perf_counter()
    history = model.fit(
        # One iterator for the whole fit: a new one each epoch refilled the shuffle buffer through
        # the augmentation map, and on 2 cores about half the epochs stalled 30-36 s on batch 0.
        train_ds.repeat(),
        steps_per_epoch=steps_per_epoch,
        validation_data=val_ds,
        epochs=config.epochs,
        class_weight=weights,
        callbacks=callbacks,
        shuffle=False,  # the tf.data pipeline shuffles (each pass of `repeat` anew)
        verbose=2,
    )
    seconds = time.perf_counter() - started
    if validate:
        kept = keras.models.load_model(checkpoint)
        epoch, epoch_key = int(np.argmax(history.history["val_accuracy"])), "best_epoch"
    else:
        kept, epoch, epoch_key = student, len(history.history["loss"]) - 1, "kept_epoch"
    if precision != "float32":
        kept = build_float32(config, num_classes, kept, head_classes)
    summary = fit_summary(history.history, int(kept.count_params()), epoch, seconds, epoch_key)
    return kept, history.history, summary
