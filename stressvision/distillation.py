"""Knowledge distillation in Keras alone (no TensorFlow ops), so it runs on any Keras backend."""

from __future__ import annotations

import keras


def soften(probabilities, temperature: float):
    """softmax(log(p) / T): the teacher's or student's softmax output at temperature T.

    Equal to softmax(logits / T), so no logits layer is needed and any saved model can teach.
    """
    logp = keras.ops.log(keras.ops.clip(keras.ops.cast(probabilities, "float32"), 1e-7, 1.0))
    return keras.ops.softmax(logp / temperature, axis=-1)


def distillation_loss(teacher_probabilities, student_probabilities, temperature: float):
    """T^2 * KL(teacher || student) at temperature T, averaged over the batch.

    T^2 keeps the soft term's gradients on the scale of the hard one (Hinton et al. 2015).
    """
    teacher = soften(teacher_probabilities, temperature)
    student = soften(student_probabilities, temperature)
    return temperature**2 * keras.ops.mean(keras.losses.kl_divergence(teacher, student))


def weigh_hard_loss(total, added_losses: list, alpha: float):
    """`total` (hard-label loss + every added loss) with only the hard-label part times alpha:
    a soft term added in call() comes weighted already, L2 penalties stay as they are."""
    added = sum((keras.ops.cast(keras.ops.sum(loss), "float32") for loss in added_losses), 0.0)
    return alpha * (total - added) + added


class Distiller(keras.Model):
    """Trains `student` on alpha * hard-label loss + (1 - alpha) * T^2 * KL(teacher || student).

    The teacher sees the same (augmented) batch as the student. Calling the distiller runs
    the student only; metrics and checkpoints see the student.
    """

    def __init__(self, student: keras.Model, teacher: keras.Model, alpha: float, temperature: float):
        super().__init__(name="distiller")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.alpha = alpha
        self.temperature = temperature

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        soft = distillation_loss(self.teacher(x, training=False), y_pred, self.temperature)
        return weigh_hard_loss(total, self.losses, self.alpha) + (1.0 - self.alpha) * soft


class SoftTargetDistiller(keras.Model):
    """Trains `student` as Distiller does, with the teacher's probabilities given beside each
    image (inputs (images, teacher probabilities)) instead of a teacher run on it.

    The soft term is added while training only; evaluation and metrics see the student alone,
    L2 penalties stay unweighted by alpha.
    """

    def __init__(self, student: keras.Model, alpha: float, temperature: float):
        super().__init__(name="soft_target_distiller")
        self.student = student
        self.alpha = alpha
        self.temperature = temperature

    def call(self, inputs, training=False):
        images, teacher_probabilities = inputs
        predictions = self.student(images, training=training)
        if training:
            soft = distillation_loss(teacher_probabilities, predictions, self.temperature)
            self.add_loss((1.0 - self.alpha) * soft)
        return predictions

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        return weigh_hard_loss(total, self.losses, self.alpha) if training else total
