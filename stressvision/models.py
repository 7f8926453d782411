"""Model builders: one function per architecture, each taking raw 48x48 grayscale pixels.

Every model starts with its own preprocessing (resize to its input size, scale), so the
Keras model, its TFLite exports and any edge caller all take the same input: the face
crop as float pixel values in [0, 255], shape (48, 48, 1).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from stressvision.face_format import FACE_SHAPE


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
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="custom_light")


MODEL_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "custom_light": build_custom_light,
}
