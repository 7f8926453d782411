"""Converting a Keras model to TFLite float32, float16 and full-integer INT8."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import tensorflow as tf

from stressvision.litert import VARIANTS


def to_tflite(model, variant: str, representative_images: np.ndarray | None = None) -> bytes:
    """Convert `model`; INT8 is full-integer (int8 input and output) and needs calibration images.

    The representative images come from the train split: calibrating on test images would
    let the test set leak into the quantization ranges.
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        if representative_images is None or len(representative_images) == 0:
            raise ValueError("int8 conversion needs representative images")
        images = representative_images.astype(np.float32)
        if images.ndim == len(model.inputs[0].shape) - 1:  # (N, 48, 48) faces: add the channel axis
            images = images[..., None]

        def representative_dataset():
            for image in images:
                yield [image[None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif variant != "float32":
        raise ValueError(f"unknown TFLite variant {variant!r}; choose from {VARIANTS}")
    with contextlib.redirect_stdout(io.StringIO()):  # the SavedModel export prints every capture
        return converter.convert()
