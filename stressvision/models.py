"""Model builders: one function per architecture, each taking raw 48x48 grayscale pixels.

Every model starts with its own preprocessing (resize to its input size, scale), so the
Keras model, its TFLite exports and any edge caller all take the same input: the face
crop as float pixel values in [0, 255], shape (48, 48, 1).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from keras import layers

from stressvision.errors import DataError, ParamsError
from stressvision.face_format import FACE_SHAPE

BN_MOMENTUM = 0.9  # see build_custom_light: fast BN statistics for a few hundred steps per epoch


def face_preprocessing(
    inputs: keras.KerasTensor, input_size: int, scale: str = "unit", channels: int = 1
) -> keras.KerasTensor:
    """Resize to the model's input size and scale pixels to [0, 1] ("unit") or [-1, 1]."""
    x = inputs
    if input_size != inputs.shape[1]:
        x = layers.Resizing(input_size, input_size, interpolation="bilinear", name="resize")(x)
    if scale == "unit":
        x = layers.Rescaling(1.0 / 255.0, name="scale")(x)
    else:
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(x)
    if channels == 3 and inputs.shape[-1] == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    return x


def build_custom_light(
    num_classes: int,
    input_size: int = 120,
    dropout: float = 0.3,
    dense_units: int = 128,
    input_shape: tuple[int, int, int] = FACE_SHAPE,
    bn_momentum: float = 0.9,
) -> keras.Model:
    """The product brief's light CNN: one strided conv, then depthwise-separable blocks.

    Separable convolutions keep it around 60 k parameters, fast enough for a Raspberry Pi
    at 120x120 input. BatchNorm momentum 0.9 (not Keras' 0.99): with a few hundred steps per
    epoch, slow moving averages leave inference-mode statistics far behind the weights, and
    validation accuracy sits at chance for many epochs.
    """
    inputs = keras.Input(input_shape, name="face")
    x = face_preprocessing(inputs, input_size)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.MaxPooling2D(name="stem_pool")(x)
    for filters, pool in ((64, True), (128, True), (256, False)):
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"sep{filters}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"sep{filters}_bn")(x)
        x = layers.ReLU(name=f"sep{filters}_relu")(x)
        if pool:
            x = layers.MaxPooling2D(name=f"sep{filters}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    outputs = probabilities(x, num_classes)
    return keras.Model(inputs, outputs, name="custom_light")


def probabilities(x: keras.KerasTensor, num_classes: int, name: str = "probabilities") -> keras.KerasTensor:
    """The softmax head, always float32: under a mixed-precision policy a bfloat16/float16
    softmax loses the small probabilities that the loss and the TFLite export rely on."""
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name=name)(x)


def conv_bn_relu(
    x: keras.KerasTensor, filters: int, name: str, strides: int = 1, kernel_size: int = 3
) -> keras.KerasTensor:
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def mobilenetv3_backbone(
    input_size: int, weights: str, trainable_layers: int, alpha: float = 1.0
) -> keras.Model:
    """keras.applications.MobileNetV3Small without its top, weights loaded, last layers unfrozen.

    `weights`: "imagenet" (Keras' own download, cached in $KERAS_HOME/models), "none", or a
    local .h5/.weights.h5 file of this backbone (e.g. the ImageNet file fetched elsewhere).
    Pretrained weights keep all but the last `trainable_layers` layers frozen (their
    BatchNorm then runs in inference mode); random weights train the whole backbone.
    """
    source = None if weights == "none" else weights
    if source not in (None, "imagenet") and not (source.endswith(".h5") and Path(source).is_file()):
        raise ParamsError("train.weights", f"{source!r}: no such .h5 file; use imagenet, none or a file")
    try:
        backbone = keras.applications.MobileNetV3Small(
            input_shape=(input_size, input_size, 3),
            alpha=alpha,
            include_top=False,
            weights=source,
            include_preprocessing=False,  # face_preprocessing already scales to [-1, 1]
        )
    except Exception as exc:  # keras.utils.get_file raises a bare Exception when offline
        if source == "imagenet" and "URL fetch failure" in str(exc):
            home = os.environ.get("KERAS_HOME", "~/.keras")
            raise ParamsError(
                "train.weights",
                f"cannot download the ImageNet weights into {home}/models (offline?); "
                "set train.weights to none or to a local .h5 weights file",
            ) from None
        raise
    if source is not None:
        frozen = len(backbone.layers) - trainable_layers
        for i, layer in enumerate(backbone.layers):
            layer.trainable = i >= frozen
    return backbone


def build_mobilenetv3_small(
    num_classes: int,
    input_size: int = 160,
    dropout: float = 0.3,
    input_shape: tuple[int, int, int] = FACE_SHAPE,
    weights: str = "imagenet",
    trainable_layers: int = 30,
    l2: float = 0.001,
) -> keras.Model:
    """Transfer learning: ImageNet features for a 28 k-face data set, in about 1 M parameters.

    Faces are repeated to 3 channels and scaled to [-1, 1] as MobileNetV3 was trained.
    Head (product brief): GAP, dropout, two L2-regularised dense+BN layers, softmax.
    """
    inputs = keras.Input(input_shape, name="face")
    x = face_preprocessing(inputs, input_size, scale="signed", channels=3)
    x = mobilenetv3_backbone(input_size, weights, trainable_layers)(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    for units, rate in ((256, 0.2), (128, None)):
        x = layers.Dense(
            units, activation="relu", kernel_regularizer=keras.regularizers.L2(l2), name=f"dense{units}"
        )(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"dense{units}_bn")(x)
        if rate:
            x = layers.Dropout(rate, name=f"dropout{units}")(x)
    outputs = probabilities(x, num_classes)
    return keras.Model(inputs, outputs, name="mobilenetv3_small")


def basic_block(x: keras.KerasTensor, filters: int, strides: int, name: str) -> keras.KerasTensor:
    """ResNet's basic block: two 3x3 convs plus the identity (or a 1x1 projection)."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_proj_bn")(shortcut)
    x = conv_bn_relu(x, filters, f"{name}_a", strides=strides)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_b_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_b_bn")(x)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.ReLU(name=f"{name}_out")(x)


def build_resnet18(
    num_classes: int,
    input_size: int = 64,
    dropout: float = 0.3,
    input_shape: tuple[int, int, int] = FACE_SHAPE,
    width: float = 1.0,
) -> keras.Model:
    """ResNet-18 (basic blocks [2, 2, 2, 2], 64-512 filters times `width`) for small faces.

    The ImageNet stem (7x7/2 conv + max-pool) would shrink a 64 px face to 16 px before the
    first block; a single 3x3/2 conv keeps 32x32 maps, as CIFAR-style ResNets do.
    """
    inputs = keras.Input(input_shape, name="face")
    x = face_preprocessing(inputs, input_size)
    x = conv_bn_relu(x, max(8, round(64 * width)), "stem", strides=2)
    for stage, filters in enumerate((64, 128, 256, 512)):
        for block in range(2):
            strides = 2 if stage > 0 and block == 0 else 1
            x = basic_block(x, max(8, round(filters * width)), strides, f"stage{stage + 1}_block{block + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = probabilities(x, num_classes)
    return keras.Model(inputs, outputs, name="resnet18")


def build_vgg_fer(
    num_classes: int,
    input_size: int = 48,
    dropout: float = 0.3,
    input_shape: tuple[int, int, int] = FACE_SHAPE,
    width: float = 1.0,
    fc_units: int = 0,
    fc_batchnorm: bool = False,
) -> keras.Model:
    """The VGG variant behind the 73.28 % single-network FER-2013 record (Khaireddin & Chen 2021).

    Four stages of two 3x3 conv+BN+ReLU blocks (64, 128, 256, 512 filters) and a max-pool,
    then two fully connected 4096 layers with dropout. At width 1 it has about 40 M
    parameters; `width` scales every layer so a CPU can train it (and INT8 fits the edge).
    `fc_units` > 0 sets the two dense layers apart from the width: at 48 px they hold most of
    the weights (width 0.25: 2.2 of 2.5 M), so narrowing them is what brings INT8 under 2 MB.
    `fc_batchnorm` normalises each dense layer before its ReLU: without it, trained with Adam,
    most of the first one's units die (zero for every face: 456 of 512 in a real_default
    model, BENCHMARKS.md), and the weights meant to carry them are dead weight.
    """
    inputs = keras.Input(input_shape, name="face")
    x = face_preprocessing(inputs, input_size)
    for filters in (64, 128, 256, 512):
        units = max(8, round(filters * width))
        x = conv_bn_relu(x, units, f"conv{filters}a")
        x = conv_bn_relu(x, units, f"conv{filters}b")
        x = layers.MaxPooling2D(name=f"pool{filters}")(x)
    x = layers.Flatten(name="flatten")(x)
    units = fc_units if fc_units > 0 else max(16, round(4096 * width))
    for i in (1, 2):
        if fc_batchnorm:  # the shift stands in for the bias; Keras' momentum, as measured
            x = layers.Dense(units, use_bias=False, name=f"fc{i}")(x)
            x = layers.BatchNormalization(name=f"fc{i}_bn")(x)
            x = layers.ReLU(name=f"fc{i}_relu")(x)
        else:
            x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
        x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    outputs = probabilities(x, num_classes)
    return keras.Model(inputs, outputs, name="vgg_fer")


def float32_copy(build: Callable[[], keras.Model], trained: keras.Model) -> keras.Model:
    """`build()` under the float32 policy with `trained`'s weights (mixed-precision variables are
    float32 already), so evaluation, saving and the TFLite export see an ordinary float32 model."""
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        model = build()
    finally:
        keras.mixed_precision.set_global_policy(policy)
    model.set_weights(trained.get_weights())
    return model


def load_face_model(path: str | os.PathLike, num_classes: int | None, expected: str = "") -> keras.Model:
    """A saved face model (.keras) that takes FACE_SHAPE faces and predicts `num_classes`
    classes (None: any number); else DataError. `expected` says where the class count comes from."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such .keras model file")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a .keras model (a .keras file is a zip archive)")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - Keras raises many kinds for a file it cannot read
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{path}: not a readable .keras model ({reason})") from None
    shape, outputs = model.input_shape, model.output_shape
    if not isinstance(shape, tuple) or tuple(shape[1:]) != FACE_SHAPE:
        raise DataError(f"{path}: takes input {shape}, not the {FACE_SHAPE} faces of a face model")
    if not isinstance(outputs, tuple) or num_classes is not None and outputs[-1] != num_classes:
        raise DataError(
            f"{path} predicts {outputs[-1] if isinstance(outputs, tuple) else outputs} classes, "
            + (expected or f"the data has {num_classes}")
        )
    return model


def dead_dense_units(
    model: keras.Model, faces: np.ndarray, batch_size: int = 256
) -> dict[str, tuple[int, int]]:
    """(dead, units) of each dense ReLU layer, by name: a unit is dead when it is zero for every
    one of `faces` (FACE_SHAPE pixels). A dead ReLU passes no gradient, so it never comes back:
    its weights are carried, stored and run for nothing."""
    relus = [layer for layer in model.layers if _is_dense_relu(layer)]
    if not relus:
        return {}
    probe = keras.Model(model.inputs, [layer.output for layer in relus])
    pixels = faces.reshape((-1, *FACE_SHAPE)).astype(np.float32)
    outputs = probe.predict(pixels, batch_size=batch_size, verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return {
        layer.name: (int((out.max(axis=0) <= 0).sum()), out.shape[-1]) for layer, out in zip(relus, outputs)
    }


def _is_dense_relu(layer: keras.layers.Layer) -> bool:
    """A ReLU whose output is a vector per face: a Dense layer's own, or a ReLU layer after one."""
    if len(layer.output.shape) != 2:
        return False
    if isinstance(layer, layers.Dense):
        return layer.activation is keras.activations.relu
    return isinstance(layer, layers.ReLU)


def sum_into_classes(model: keras.Model, kernel: np.ndarray) -> keras.Model:
    """`model` with its probabilities summed into classes by `kernel` ((outputs, classes), e.g.
    labels.merge_matrix): a fixed matrix after the softmax, so the saved model, its TFLite exports and every
    runtime see the scheme's classes (map_labels.learn: emotions; with add_class_head's two heads,
    heads.averaging_kernel)."""
    head = layers.Dense(kernel.shape[1], use_bias=False, trainable=False, name="sum_into_classes")
    outputs = head(model.output)
    head.set_weights([kernel])
    return keras.Model(model.inputs, outputs, name=model.name)


def add_class_head(model: keras.Model, num_classes: int) -> keras.Model:
    """`model` (a softmax over units) with a second softmax over `num_classes` classes on the
    features its own head reads, the two concatenated (units, then classes): the classes learnt
    beside their finer units, in one network (train.class_head; trained by heads.HeadsLoss)."""
    classes = probabilities(model.get_layer("probabilities").input, num_classes, name="class_probabilities")
    outputs = layers.Concatenate(dtype="float32", name="units_and_classes")([model.output, classes])
    return keras.Model(model.inputs, outputs, name=model.name)


MODEL_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "custom_light": build_custom_light,
    "mobilenetv3_small": build_mobilenetv3_small,
    "resnet18": build_resnet18,
    "vgg_fer": build_vgg_fer,
}
