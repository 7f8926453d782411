"""Training two softmax heads of one network (train.class_head): the units' and the classes'.

The network outputs both heads concatenated (models.add_class_head) and learns from targets
laid out the same way (`head_targets`); what it predicts is their average in the classes
(models.sum_into_classes with `averaging_kernel`), which the accuracy here scores, so that
validation, checkpoints and early stopping pick the epoch by what is shipped.
"""

from __future__ import annotations

import keras
import numpy as np


def head_targets(unit_classes: np.ndarray) -> np.ndarray:
    """(units, units + classes): row u is unit u's one-hot target, then its class's
    (`unit_classes`: the units' (units, classes) 0/1 matrix, labels.merge_matrix)."""
    return np.concatenate([np.eye(len(unit_classes), dtype=np.float32), unit_classes], axis=1)


def averaging_kernel(unit_classes: np.ndarray) -> np.ndarray:
    """(units + classes, classes): the two heads' class probabilities, averaged."""
    return 0.5 * np.concatenate([unit_classes, np.eye(unit_classes.shape[1], dtype=np.float32)])


@keras.saving.register_keras_serializable(package="stressvision")
class HeadsLoss(keras.losses.Loss):
    """Each head's (label-smoothed) cross-entropy against its own targets, summed: the first
    `units` columns are the units' head, the rest the classes'."""

    def __init__(self, units: int, label_smoothing: float = 0.0, name: str = "heads_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.units, self.label_smoothing = units, label_smoothing

    def call(self, y_true, y_pred):
        def entropy(true, predicted):
            return keras.losses.categorical_crossentropy(
                true, predicted, label_smoothing=self.label_smoothing
            )

        n = self.units
        return entropy(y_true[:, :n], y_pred[:, :n]) + entropy(y_true[:, n:], y_pred[:, n:])

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="stressvision")
class HeadsAccuracy(keras.metrics.Mean):
    """Accuracy of the two heads' average in the classes (what the saved model predicts)."""

    def __init__(self, unit_classes, name: str = "accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.unit_classes = np.asarray(unit_classes, np.float32)
        self.kernel = averaging_kernel(self.unit_classes)

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = keras.ops.argmax(
            keras.ops.matmul(keras.ops.cast(y_pred, "float32"), self.kernel), axis=-1
        )
        actual = keras.ops.argmax(y_true[:, len(self.unit_classes) :], axis=-1)
        return super().update_state(keras.ops.cast(predicted == actual, "float32"), sample_weight)

    def get_config(self) -> dict:
        return {"unit_classes": self.unit_classes.tolist(), "name": self.name, "dtype": self.dtype}
