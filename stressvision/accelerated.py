"""Training with Keras alone (no TensorFlow): a large teacher, then distilled deployable students.

The DVC `train` stage feeds Keras through tf.data, so it needs TensorFlow. GPU machines often
carry JAX or PyTorch and no TensorFlow; Keras 3 runs this project's model builders on those
backends (KERAS_BACKEND=jax), and what it saves loads under TensorFlow. Here the faces stay in
memory as NumPy arrays and augmentation runs on the device inside the train step, as one
bilinear warp per face. The CPU side then only quantizes and scores (scripts/package_model.py).
"""

from __future__ import annotations

import io
import lzma
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import keras
import numpy as np

from stressvision.augment import (
    AugmentConfig,
    affine_warp,
    geometric_layers,
    random_blur,
    random_erasing,
    warp_draws,
)
from stressvision.datasets import FaceSet, drop_empty_classes, map_to_classes, read_face_source
from stressvision.distillation import distillation_loss, weigh_hard_loss
from stressvision.errors import DataError
from stressvision.fileio import atomic_path
from stressvision.labels import FER2013_EMOTIONS, LabelMap, label_map_from_params
from stressvision.models import build_vgg_fer
from stressvision.params import Section
from stressvision.splits import SplitConfig, split_indices
from stressvision.tta import view_predictions

PACKED_SUFFIX = ".npz.xz"


def pack_faces(faces: FaceSet, path: str | os.PathLike) -> None:
    """Decoded faces as one xz-compressed .npz: 55 MB for FER-2013 (the JPEG zip is 64 MB), so
    it fits where uploads are capped; the pixels are exactly those the pipeline decodes."""
    buffer = io.BytesIO()
    np.savez(buffer, images=faces.images, labels=faces.labels, official_split=faces.official_split)
    with atomic_path(path) as tmp, lzma.open(tmp, "wb", preset=9 | lzma.PRESET_EXTREME) as fh:
        fh.write(buffer.getvalue())


def read_faces(path: str | os.PathLike) -> FaceSet:
    """A FER-2013 archive (zip or CSV, as the pipeline reads it) or a pack_faces file."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such file; give a FER-2013 zip, fer2013.csv or a {PACKED_SUFFIX} file")
    if not str(path).endswith(PACKED_SUFFIX):
        return read_face_source(path)
    try:
        with lzma.open(path, "rb") as fh, np.load(io.BytesIO(fh.read()), allow_pickle=False) as data:
            return FaceSet(data["images"], data["labels"], data["official_split"])
    except (OSError, EOFError, ValueError, KeyError, lzma.LZMAError) as error:
        raise DataError(f"{path}: not a file of --pack ({error}); pack the archive again") from None


def new_output_folder(path: str | os.PathLike) -> Path:
    """`path` as a new or empty folder: files of an earlier run would mix with this run's."""
    out = Path(path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: exists and is not an empty folder; give a new --out folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"{out}: cannot make the folder ({error.strerror})") from None
    return out


def scheme_splits(
    faces: FaceSet, scheme: str, params: dict
) -> tuple[LabelMap, list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The faces mapped by one `map_labels` scheme of `params` and split as the `split` stage does.

    Returns the label map, the classes that have faces, and {split: (images (N, 48, 48, 1), labels)}.
    """
    section = Section("map_labels", {**params["map_labels"], "scheme": scheme})
    label_map = label_map_from_params(section, FER2013_EMOTIONS)
    mapped, classes, _ = drop_empty_classes(
        map_to_classes(faces, label_map, FER2013_EMOTIONS), label_map.classes, "drop"
    )
    indices, _ = split_indices(
        mapped.labels, mapped.official_split, SplitConfig.from_section(Section("split", params["split"]))
    )
    images = mapped.images[..., None]
    return (
        label_map,
        list(classes),
        {k: (images[v], mapped.labels[v].astype(np.int64)) for k, v in indices.items()},
    )


@keras.saving.register_keras_serializable(package="stressvision")
class RandomBrightnessScale(keras.layers.Layer):
    """Multiply each image by a factor drawn from [low, high] while training; clip to [0, 255].

    The pipeline's augmenter scales brightness the same way (keras.layers.RandomBrightness
    adds an offset instead).
    """

    def __init__(self, low: float, high: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high, self.seed = float(low), float(high), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if training and (self.low, self.high) != (1.0, 1.0):
            shape = (keras.ops.shape(images)[0], 1, 1, 1)
            factor = keras.random.uniform(shape, self.low, self.high, seed=self.generator, dtype=images.dtype)
            images = images * factor
        return keras.ops.clip(images, 0.0, 255.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "low": self.low, "high": self.high, "seed": self.seed}


def per_image_uniform(images, generator: keras.random.SeedGenerator) -> Callable:
    """`uniform(low, high)`: one (B, 1) draw per image of the batch, as augment's warps take it."""
    batch = keras.ops.shape(images)[0]

    def uniform(low: float, high: float):
        return keras.random.uniform((batch, 1), low, high, seed=generator)

    return uniform


@keras.saving.register_keras_serializable(package="stressvision")
class RandomAffineWarp(keras.layers.Layer):
    """augment.affine_warp as a Keras layer (while training): flip, rotation, shift and zoom in one
    bilinear pass, drawn as the pipeline draws them (augment.warp_draws).

    Keras' own layers warp once each through `affine_transform`, whose JAX form
    (map_coordinates over height, width and channel) is slow on accelerators.
    """

    def __init__(self, rotation_deg: float, shift: float, zoom: float, flip: bool, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.ranges = AugmentConfig(float(rotation_deg), float(shift), float(zoom), bool(flip))
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        uniform = per_image_uniform(images, self.generator)
        return affine_warp(images, *warp_draws(self.ranges, uniform, images.shape[1], images.shape[2]))

    def get_config(self) -> dict:
        r = self.ranges
        ranges = {"rotation_deg": r.rotation_deg, "shift": r.shift, "zoom": r.zoom, "flip": r.flip}
        return {**super().get_config(), **ranges, "seed": self.seed}


@keras.saving.register_keras_serializable(package="stressvision")
class RandomErasing(keras.layers.Layer):
    """augment.random_erasing as a Keras layer (while training): one black rectangle per image
    with `probability`."""

    def __init__(self, probability: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.probability, self.seed = float(probability), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training or not self.probability:
            return images
        return random_erasing(images, per_image_uniform(images, self.generator), self.probability)

    def get_config(self) -> dict:
        return {**super().get_config(), "probability": self.probability, "seed": self.seed}


@keras.saving.register_keras_serializable(package="stressvision")
class RandomBlur(keras.layers.Layer):
    """augment.random_blur as a Keras layer (while training): a Gaussian blur per image, its
    sigma drawn from [0, max_sigma] px."""

    def __init__(self, max_sigma: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.max_sigma, self.seed = float(max_sigma), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training or not self.max_sigma:
            return images
        return random_blur(images, per_image_uniform(images, self.generator), self.max_sigma)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_sigma": self.max_sigma, "seed": self.seed}


def augmentation_model(config: AugmentConfig, seed: int) -> keras.Sequential:
    """The pipeline's training augmentation (augment.build_augmenter) as float32 Keras layers.

    `config.warp`: "single" (RandomAffineWarp) or "layers" (the pipeline's Keras layers, one
    warp each).
    """
    if config.warp == "layers":
        layers = geometric_layers(config, seed, dtype="float32")
    else:
        layers = [
            RandomAffineWarp(
                config.rotation_deg, config.shift, config.zoom, config.flip, seed, dtype="float32"
            )
        ]
    if config.blur:
        layers.append(RandomBlur(config.blur, seed=seed + 8, dtype="float32"))
    layers.append(RandomBrightnessScale(*config.brightness, seed=seed + 4, dtype="float32"))
    if config.erasing:
        layers.append(RandomErasing(config.erasing, seed=seed + 7, dtype="float32"))
    return keras.Sequential(layers, name="augment")


class DeviceTrainer(keras.Model):
    """Fits `network` on raw pixel batches, augmenting them on the device while training.

    With a teacher, the loss is alpha * hard-label loss + (1 - alpha) * T^2 * KL(teacher ||
    network), the teacher seeing the same augmented batch (as stressvision.distillation.Distiller
    does in the tf.data pipeline). Calling the trainer runs the network alone, so metrics and
    evaluation see it.
    """

    def __init__(
        self,
        network: keras.Model,
        augment: keras.Model | None = None,
        teacher: keras.Model | None = None,
        alpha: float = 0.5,
        temperature: float = 4.0,
    ):
        super().__init__(name="trainer")
        self.network = network
        self.augment = augment
        self.teacher = teacher
        if teacher is not None:
            teacher.trainable = False
        self.alpha = alpha
        self.temperature = temperature

    def call(self, inputs, training=False):
        x = keras.ops.cast(inputs, "float32")
        if training and self.augment is not None:
            x = self.augment(x, training=True)
        predictions = self.network(x, training=training)
        if training and self.teacher is not None:
            soft = distillation_loss(self.teacher(x, training=False), predictions, self.temperature)
            self.add_loss((1.0 - self.alpha) * soft)
        return predictions

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if self.teacher is None or not training:
            return total
        return weigh_hard_loss(total, self.losses, self.alpha)


class KeepBestWeights(keras.callbacks.Callback):
    """Keeps the network's weights of its best epoch on validation accuracy, in memory."""

    def __init__(self, network: keras.Model):
        super().__init__()
        self.network = network
        self.best, self.best_epoch, self.weights = -1.0, -1, None

    def on_epoch_end(self, epoch, logs=None):
        accuracy = float((logs or {}).get("val_accuracy", -1.0))
        if accuracy > self.best:
            self.best, self.best_epoch = accuracy, epoch
            self.weights = [np.array(w) for w in self.network.get_weights()]


@dataclass(frozen=True)
class FitPlan:
    """How one network is fitted on the device."""

    epochs: int
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    seed: int = 42


def compile_trainer(trainer: DeviceTrainer, plan: FitPlan, steps_per_epoch: int) -> None:
    """Adam with linear warm-up then cosine decay to zero; label-smoothed cross-entropy."""
    warmup = plan.warmup_epochs * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=plan.learning_rate / 100,
        decay_steps=max(1, plan.epochs * steps_per_epoch - warmup),
        warmup_target=plan.learning_rate,
        warmup_steps=warmup,
    )
    trainer.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=plan.label_smoothing),
        metrics=["accuracy"],
    )


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes, dtype=np.float32)[labels]


class TooSlowError(RuntimeError):
    """The device trains too slowly for the budget it was given."""


class CollapsedError(RuntimeError):
    """No network learnt more than the most common class: nothing to distil from."""


def collapsed(summary: dict, margin: float = 0.01) -> bool:
    """Whether a fit_network summary shows a network no better than answering the most common
    class for every face (a dead full-width VGG can still name a second class for a few faces)."""
    return summary["best_val_accuracy"] <= summary["val_majority_share"] + margin


def seconds_per_epoch(
    make_trainer: Callable[[], DeviceTrainer], images: np.ndarray, labels: np.ndarray, plan: FitPlan
) -> float:
    """Time steps of a throwaway trainer after its compilation, scaled to a whole epoch."""
    steps = 30
    n = min(len(images), steps * plan.batch_size)
    trainer = make_trainer()
    compile_trainer(trainer, plan, steps)
    x, y = images[:n], one_hot(labels[:n], trainer.network.output_shape[-1])
    trainer.fit(x, y, batch_size=plan.batch_size, epochs=1, verbose=0)  # compiles
    started = time.perf_counter()
    trainer.fit(x, y, batch_size=plan.batch_size, epochs=1, verbose=0)
    per_step = (time.perf_counter() - started) / -(-n // plan.batch_size)
    return per_step * -(-len(images) // plan.batch_size)


def epochs_within(
    budget_s: float,
    make_trainer: Callable[[], DeviceTrainer],
    images: np.ndarray,
    labels: np.ndarray,
    plan: FitPlan,
    max_epochs: int,
    min_epochs: int = 0,
) -> int:
    """As many epochs as fit in `budget_s` (validation adds about 10 %), at most `max_epochs`.

    Raises `TooSlowError` when fewer than `min_epochs` fit, so that a slow device costs one
    timing, not the whole lease.
    """
    epoch_s = seconds_per_epoch(make_trainer, images, labels, plan) * 1.1
    if budget_s // epoch_s < min_epochs:
        raise TooSlowError(
            f"{epoch_s:.1f} s per epoch: {int(budget_s // epoch_s)} epochs fit in {budget_s:.0f} s, "
            f"fewer than the {min_epochs} asked for; give a larger budget or a faster device"
        )
    epochs = int(max(plan.warmup_epochs + 1, min(max_epochs, budget_s // epoch_s)))
    print(f"device: {epoch_s:.2f} s per epoch -> {epochs} epochs in {budget_s:.0f} s", flush=True)
    return epochs


def fit_network(
    trainer: DeviceTrainer,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    plan: FitPlan,
) -> dict:
    """Fit and restore the network's best epoch on validation accuracy; return a summary."""
    num_classes = trainer.network.output_shape[-1]
    steps = -(-len(train[1]) // plan.batch_size)
    compile_trainer(trainer, plan, steps)
    keep = KeepBestWeights(trainer.network)
    started = time.perf_counter()
    history = trainer.fit(
        train[0],
        one_hot(train[1], num_classes),
        validation_data=(val[0], one_hot(val[1], num_classes)),
        batch_size=plan.batch_size,
        epochs=plan.epochs,
        shuffle=True,
        callbacks=[keep],
        verbose=2,
    )
    seconds = time.perf_counter() - started
    trainer.network.set_weights(keep.weights)
    predicted = trainer.network.predict(val[0], batch_size=512, verbose=0).argmax(1)
    return {
        "epochs": plan.epochs,
        "best_epoch": keep.best_epoch + 1,
        "best_val_accuracy": round(keep.best, 4),
        "val_predicted_classes": int(len(np.unique(predicted))),
        "val_majority_share": round(float(np.bincount(val[1]).max() / len(val[1])), 4),
        "last_train_accuracy": round(float(history.history["accuracy"][-1]), 4),
        "train_seconds": round(seconds, 1),
        "params": int(trainer.network.count_params()),
    }


def ensemble(members: list[keras.Model], merge: np.ndarray | None = None) -> keras.Model:
    """One model averaging `members`' probabilities, optionally summed into coarser classes."""
    inputs = keras.Input(members[0].input_shape[1:], name="face")
    for i, member in enumerate(members):
        member.name = f"member{i}"  # names must be unique inside one model
    outputs = [m(inputs) for m in members]
    x = keras.layers.Average(dtype="float32", name="average")(outputs) if len(outputs) > 1 else outputs[0]
    if merge is not None:
        dense = keras.layers.Dense(
            merge.shape[1], use_bias=False, trainable=False, dtype="float32", name="merge"
        )
        x = dense(x)
        dense.set_weights([merge])
    return keras.Model(inputs, x, name="ensemble")


def flip_views(model: keras.Model, images: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, ...]:
    """Probabilities on the faces and on their mirror images."""
    x = images[..., None].astype(np.float32) if images.ndim == 3 else images.astype(np.float32)
    plain, mirrored = view_predictions(partial(model.predict, batch_size=batch_size, verbose=0), x, "flip")
    return plain, mirrored


def predict_tta(model: keras.Model, images: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, ...]:
    """Probabilities on the faces and averaged with their mirror images (flip TTA)."""
    plain, mirrored = flip_views(model, images, batch_size)
    return plain, (plain + mirrored) / 2


def teacher_soft_labels(teachers: list[keras.Model], images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each teacher's probabilities on `images`, plain and mirrored, float16 (teacher, face, class):
    kept with the faces, they let a slower machine distil without running the teachers."""
    views = [flip_views(teacher, images) for teacher in teachers]
    plain, mirrored = (np.stack([v[i] for v in views]).astype(np.float16) for i in (0, 1))
    return plain, mirrored


def teacher_network(num_classes: int, width: float, fc_units: int, dropout: float) -> keras.Model:
    """The record VGG network (models.build_vgg_fer) at the teacher's size, on 48x48 faces."""
    return build_vgg_fer(num_classes, input_size=48, dropout=dropout, width=width, fc_units=fc_units)


def save_weights_float16(model: keras.Model, path: str) -> None:
    """The weights as float16 arrays in one .npz: half the bytes of a .keras file (a 7 M-weight
    teacher fits a 16 MB upload), at a rounding that moves probabilities by about 1e-3."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, *[np.asarray(w).astype(np.float16) for w in model.get_weights()])


def load_weights_float16(model: keras.Model, path: str) -> keras.Model:
    """Load save_weights_float16's arrays into `model` (built as the saved one was)."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such teacher weights file")
    try:
        with np.load(path, allow_pickle=False) as data:
            weights = [data[f"arr_{i}"].astype(np.float32) for i in range(len(data.files))]
        model.set_weights(weights)
    except (OSError, ValueError, KeyError) as error:
        raise DataError(
            f"{path}: not float16 teacher weights of this network ({str(error).splitlines()[0]}); "
            "give the --teacher-width and --teacher-fc-units it was trained with"
        ) from None
    return model


def load_teacher_outputs(path: str | os.PathLike, num_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """A `--soft-labels` file's plain and mirrored 7-emotion probabilities (teacher, face, class),
    checked against the `num_faces` faces of the archive it must come from."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such soft-labels file")
    try:
        with np.load(path, allow_pickle=False) as data:
            plain, mirrored, classes = data["plain"], data["mirrored"], list(data["classes"])
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"{path}: not a soft_labels.npz of train_on_accelerator.py ({error})") from None
    expected = (plain.shape[0], num_faces, len(FER2013_EMOTIONS))
    if classes != list(FER2013_EMOTIONS) or plain.shape != expected or mirrored.shape != expected:
        raise DataError(f"{path}: not this archive's 7-emotion soft labels; make them from the same archive")
    return plain, mirrored
