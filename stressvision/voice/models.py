"""Voice model builders: one function per architecture, each taking the features stage's output."""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers


def build_lstm_baseline(
    num_classes: int, input_shape: tuple[int, ...] = (40, 1), dropout: float = 0.2
) -> keras.Model:
    """The classic speech-emotion baseline, exactly: 40 time-averaged MFCCs read as a sequence.

    LSTM 256 (linear activation) -> Dropout -> Dense 128 relu -> Dropout -> Dense 64 relu ->
    Dropout -> softmax. Unrolled (40 steps), so TFLite exports it as plain ops that quantize
    to INT8.
    """
    inputs = keras.Input(input_shape, name="features")
    x = layers.LSTM(256, activation="linear", unroll=True, name="lstm")(inputs)
    x = layers.Dropout(dropout, name="dropout1")(x)
    x = layers.Dense(128, activation="relu", name="dense128")(x)
    x = layers.Dropout(dropout, name="dropout2")(x)
    x = layers.Dense(64, activation="relu", name="dense64")(x)
    x = layers.Dropout(dropout, name="dropout3")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="lstm_baseline")


def build_functionals_mlp(
    num_classes: int,
    input_shape: tuple[int, ...] = (624,),
    dropout: float = 0.5,
    units: int = 256,
    input_noise: float = 0.1,
    l2: float = 1e-3,
) -> keras.Model:
    """An MLP on clip-level statistics (the `functionals` or `prosody` features).

    On a few hundred clips, statistics over the whole utterance generalise to new speakers
    better than models of the frame sequence (EmoDB leave-one-speaker-out: 0.654 against
    0.539 for cnn_logmel; 0.772 on speaker-normalised prosody, see BENCHMARKS.md). Expects
    features on a unit scale (voice_features.standardize or speaker_norm); Gaussian input
    noise and dropout regularise it.
    """
    inputs = keras.Input(input_shape, name="features")
    x = layers.GaussianNoise(input_noise, name="input_noise")(inputs)
    x = layers.Dropout(0.2, name="input_dropout")(x)
    for i, width in enumerate((units, units // 2)):
        x = layers.Dense(
            width, activation="relu", kernel_regularizer=keras.regularizers.l2(l2), name=f"dense{i + 1}"
        )(x)
        x = layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="functionals_mlp")


def build_linear_softmax(
    num_classes: int, input_shape: tuple[int, ...] = (4204,), dropout: float = 0.0, l2: float = 0.047
) -> keras.Model:
    """Softmax regression with an L2 penalty: one Dense layer on clip statistics.

    With thousands of statistics per clip and a few hundred clips, a strongly regularised
    linear model generalises to new speakers best (EmoDB leave-one-speaker-out on the
    `paralinguistic` features: see BENCHMARKS.md); `l2` is added to the mean cross-entropy
    per example, so it plays the part of 1 / (2 C n) in scikit-learn's LogisticRegression.
    The loss is convex: `voice_train.solver: lbfgs` solves it to its optimum (minibatch Adam
    stops short of it and scores lower on new speakers). `dropout` drops inputs (Adam only).
    """
    inputs = keras.Input(input_shape, name="features")
    x = layers.Dropout(dropout, name="input_dropout")(inputs) if dropout else inputs
    outputs = layers.Dense(
        num_classes, activation="softmax", kernel_regularizer=keras.regularizers.l2(l2), name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name="linear_softmax")


def build_cnn_logmel(
    num_classes: int,
    input_shape: tuple[int, ...] = (198, 64),
    dropout: float = 0.4,
    filters: tuple[int, ...] = (32, 64, 128, 256),
    bn_momentum: float = 0.9,
) -> keras.Model:
    """Conv blocks over the (time, frequency) log-mel image, then mean+max pooling over time.

    Expects utterance-normalised features (voice_features.cmvn), so the INT8 input range is
    the same for every speaker and microphone.
    """
    inputs = keras.Input(input_shape, name="features")
    x = layers.Reshape((*input_shape, 1), name="as_image")(inputs)
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"conv{i + 1}_bn")(x)
        x = layers.ReLU(name=f"conv{i + 1}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
        x = layers.SpatialDropout2D(0.1, name=f"drop{i + 1}")(x)
    x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]), name="time_steps")(x)
    x = layers.Concatenate(name="time_pool")(
        [layers.GlobalAveragePooling1D(name="time_mean")(x), layers.GlobalMaxPooling1D(name="time_max")(x)]
    )
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cnn_logmel")


VOICE_MODELS: dict[str, Callable[..., keras.Model]] = {
    "functionals_mlp": build_functionals_mlp,
    "linear_softmax": build_linear_softmax,
    "cnn_logmel": build_cnn_logmel,
    "lstm_baseline": build_lstm_baseline,
}
