"""Voice features and models: TFLite parity, the exact baseline, INT8 export, param checks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from stressvision.errors import DataError, ParamsError
from stressvision.export import to_tflite
from stressvision.litert import TFLiteClassifier
from stressvision.params import Section
from stressvision.voice.features import (
    CONTOUR_FUNCTIONALS,
    EXTENDED_FUNCTIONALS,
    PROSODY_CONTOURS,
    PROSODY_RATES,
    SPECTRAL_DESCRIPTORS,
    FeatureConfig,
    FeatureExtractor,
    extended_functionals,
    frame_descriptor_names,
    spectral_descriptors,
    standardization_statistics,
)
from stressvision.voice.models import build_lstm_baseline
from stressvision.voice.softmax_regression import fit_softmax_regression
from stressvision.voice.speakers import speaker_normalize
from stressvision.voice.training import (
    VoiceTrainConfig,
    build_voice_model,
    make_voice_dataset,
    train_voice_model,
)
from tests.conftest import default_params

TRAIN_PARAMS = {
    "model": "functionals_mlp",
    "solver": "adam",
    "epochs": 2,
    "batch_size": 8,
    "learning_rate": 0.001,
    "lr_schedule": "constant",
    "keep": "last",
    "dropout": 0.5,
    "l2": 0.001,
    "early_stopping_patience": 0,
    "class_weights": True,
    "mixup_alpha": 0.2,
    "spec_augment": {"time_masks": 2, "time_width": 20, "freq_masks": 2, "freq_width": 8},
    "seed": 1,
}


def clips(n: int = 4, seconds: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(round(16000 * seconds)) / 16000
    pitch = 150.0 + 20.0 * np.arange(n)[:, None]  # clips that differ, so no feature is constant
    voiced = np.sin(2 * np.pi * pitch * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    return (0.3 * voiced + 0.01 * rng.standard_normal((n, len(t)))).astype(np.float32)


@pytest.mark.parametrize("kind", ["functionals", "prosody", "paralinguistic", "logmel", "mfcc", "mfcc_mean"])
def test_features_tflite_matches_tensorflow(kind, tmp_path):
    config = FeatureConfig(kind=kind, clip_seconds=1.0, cmvn=kind in ("logmel", "mfcc"))
    x = clips()
    extractor = FeatureExtractor(
        config, standardization_statistics(config, FeatureExtractor(config).extract(x))
    )
    expected = extractor.extract(x)
    assert expected.shape == (4, *config.shape) and np.isfinite(expected).all()
    path = tmp_path / "features.tflite"
    path.write_bytes(extractor.to_tflite())
    features = TFLiteClassifier(path)  # a float model: no quantization in or out
    got = np.stack([features.invoke_raw(clip[None])[0] for clip in x])
    np.testing.assert_allclose(got, expected, atol=2e-3, rtol=1e-3)


def voice(pitch_hz: float, rng: np.random.Generator, seconds: float = 1.0, glide: float = 0.0) -> np.ndarray:
    """A vowel-like harmonic tone (10 harmonics, 1/k amplitudes) whose pitch glides by `glide` octaves."""
    t = np.arange(round(16000 * seconds)) / 16000
    phase = 2 * np.pi * np.cumsum(pitch_hz * 2 ** (glide * t / seconds)) / 16000
    tone = sum(np.sin(k * phase) / k for k in range(1, 11))
    return (0.2 * tone + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


def prosody_values(x: np.ndarray) -> dict[str, np.ndarray]:
    """The pitch and rate entries of `prosody` features, by name."""
    config = FeatureConfig(kind="prosody", clip_seconds=1.0, cmvn=False, standardize=False)
    features = FeatureExtractor(config).extract(x)
    tail = features[:, -(len(PROSODY_CONTOURS) * len(CONTOUR_FUNCTIONALS) + len(PROSODY_RATES)) :]
    pitch = dict(zip(CONTOUR_FUNCTIONALS, tail[:, : len(CONTOUR_FUNCTIONALS)].T))
    return pitch | dict(zip(PROSODY_RATES, tail[:, -len(PROSODY_RATES) :].T))


def test_prosody_finds_the_pitch_its_trend_and_unvoiced_noise():
    rng = np.random.default_rng(0)
    steady = prosody_values(np.stack([voice(hz, rng) for hz in (100.0, 150.0, 220.0)]))
    # semitones above 100 Hz: 0, 7.02, 13.65
    np.testing.assert_allclose(steady["mean"], [0.0, 7.02, 13.65], atol=0.35)
    assert (steady["std"] < 0.5).all() and (steady["voiced_share"] > 0.95).all()
    rising, falling = prosody_values(np.stack([voice(150.0, rng, glide=g) for g in (1.0, -1.0)]))["slope"]
    # one octave (12 semitones) over 1 s of 10 ms frames: 0.12 semitones per frame
    assert rising == pytest.approx(0.12, abs=0.02) and falling == pytest.approx(-0.12, abs=0.02)
    noise = prosody_values((0.1 * rng.standard_normal((1, 16000))).astype(np.float32))
    assert noise["voiced_share"][0] < 0.1


def test_extended_functionals_of_a_ramp_and_a_spike():
    length = 101
    ramp = np.linspace(0.0, 1.0, length, dtype=np.float32)
    spike = np.zeros(length, np.float32)
    spike[30] = 1.0
    values = extended_functionals(tf.constant(np.stack([ramp, spike])[:, :, None])).numpy()
    assert values.shape == (2, len(EXTENDED_FUNCTIONALS))
    ramp_f, spike_f = (dict(zip(EXTENDED_FUNCTIONALS, row)) for row in values)
    expected_ramp = {
        "mean": 0.5,
        "median": 0.5,
        "quartile1": 0.25,
        "quartile3": 0.75,
        "percentile1": 0.01,
        "percentile99": 0.99,
        "iqr1_3": 0.5,
        "range1_99": 0.98,
        "range": 1.0,
        "slope": 1.0,
        "slope_error": 0.0,
        "up_25": 0.74,
        "up_50": 0.5,
        "up_90": 0.09,
        "rising_share": 1.0,
        "max_position": 1.0,
        "min_position": 0.0,
        "skewness": 0.0,
        "positive_mean": 0.505,
    }
    for name, value in expected_ramp.items():
        assert ramp_f[name] == pytest.approx(value, abs=0.011), name
    assert ramp_f["centroid"] == pytest.approx(2 / 3, abs=0.01)  # the time centroid of a ramp
    assert spike_f["max_position"] == pytest.approx(0.3) and spike_f["median"] == 0.0
    assert spike_f["range"] == 1.0 and spike_f["up_50"] == pytest.approx(1 / length)
    assert spike_f["kurtosis"] > 50 and spike_f["positive_mean"] == pytest.approx(1.0)


def test_spectral_descriptors_of_a_tone_and_of_noise():
    config = FeatureConfig(kind="paralinguistic", clip_seconds=1.0)
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    signals = np.stack([np.sin(2 * np.pi * 1000.0 * t), rng.standard_normal(16000)]).astype(np.float32)
    frames = tf.signal.frame(signals, config.frame_length, config.hop_length)
    frames *= tf.signal.hann_window(config.frame_length, periodic=True)
    power = tf.square(tf.abs(tf.signal.rfft(frames, [config.fft_length])))
    bands = tf.ones(power.shape[:2] + (26,))
    values = spectral_descriptors(config, power, bands).numpy().mean(axis=1)
    tone, noise = (dict(zip(SPECTRAL_DESCRIPTORS, row)) for row in values)
    assert tone["centroid_khz"] == pytest.approx(1.0, abs=0.05)
    assert tone["rolloff50_khz"] == pytest.approx(1.0, abs=0.04) and tone["spread_khz"] < 0.1
    assert noise["centroid_khz"] == pytest.approx(4.0, abs=0.1)  # flat up to 8 kHz
    assert noise["rolloff25_khz"] == pytest.approx(2.0, abs=0.15) and noise["rolloff90_khz"] == pytest.approx(
        7.2, abs=0.15
    )
    # log(geometric / arithmetic mean): about -0.58 (Euler's gamma) for white noise, far below for a tone
    assert noise["flatness"] == pytest.approx(-0.58, abs=0.1) and tone["flatness"] < -5
    assert tone["band_1_4khz"] > tone["band_250_650hz"] + 5 and tone["entropy"] < noise["entropy"] - 1
    assert abs(noise["skewness"]) < 0.1 and tone["flux"] < noise["flux"]


def test_paralinguistic_features_are_prosody_then_the_extended_functionals():
    x = clips(3)
    prosody = FeatureExtractor(FeatureConfig(kind="prosody", clip_seconds=1.0, cmvn=False)).extract(x)
    config = FeatureConfig(kind="paralinguistic", clip_seconds=1.0, cmvn=False)
    features = FeatureExtractor(config).extract(x)
    extended = 2 * len(EXTENDED_FUNCTIONALS) * len(frame_descriptor_names())
    assert features.shape == (3, prosody.shape[1] + extended) == (3, *config.shape)
    np.testing.assert_array_equal(features[:, : prosody.shape[1]], prosody)
    assert np.isfinite(features).all() and (features[:, prosody.shape[1] :].std(axis=0) > 0).mean() > 0.9


def test_speaker_normalization_scales_each_speaker_by_their_own_clips():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(5.0, 2.0, (6, 3)), rng.normal(-3.0, 0.5, (8, 3))])
    speakers = np.array(["a"] * 6 + ["b"] * 8)
    scaled = speaker_normalize(features, speakers)
    for who in ("a", "b"):
        np.testing.assert_allclose(scaled[speakers == who].mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(scaled[speakers == who].std(axis=0), 1.0, atol=1e-4)
    with pytest.raises(DataError) as err:
        speaker_normalize(features[:10], speakers[:10])  # speaker b has 4 clips
    assert str(err.value).startswith("speaker b: 4 clip(s); a speaker-normalised model needs >= 5 clips")


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        (
            {"speaker_norm": True, "standardize": True},
            "voice_features.speaker_norm: replaces standardize: set voice_features.standardize to false",
        ),
        (
            {"speaker_norm": True, "standardize": False, "kind": "logmel"},
            "voice_features.speaker_norm: needs kind functionals, prosody or paralinguistic, not logmel",
        ),
    ],
)
def test_speaker_norm_param_errors(updates, message):
    values = default_params()["voice_features"] | updates
    with pytest.raises(ParamsError) as err:
        FeatureConfig.from_section(Section("voice_features", values), 16000, 2.0)
    assert str(err.value) == f"params.yaml: {message}"


def test_mfccs_are_tensorflow_mfccs():
    x = clips(2)
    logmel = FeatureExtractor(FeatureConfig(kind="logmel", clip_seconds=1.0, cmvn=False)).extract(x)
    mfcc = FeatureExtractor(FeatureConfig(kind="mfcc", clip_seconds=1.0, cmvn=False)).extract(x)
    reference = tf.signal.mfccs_from_log_mel_spectrograms(logmel).numpy()[..., :40]
    np.testing.assert_allclose(mfcc, reference, atol=1e-3)


def test_the_lstm_baseline_is_the_published_architecture():
    model = build_lstm_baseline(7)
    kinds = [(type(layer).__name__, getattr(layer, "units", None)) for layer in model.layers[1:]]
    assert kinds == [
        ("LSTM", 256),
        ("Dropout", None),
        ("Dense", 128),
        ("Dropout", None),
        ("Dense", 64),
        ("Dropout", None),
        ("Dense", 7),
    ]
    assert model.input_shape == (None, 40, 1) and model.layers[1].activation.__name__ == "linear"
    assert [model.layers[i].activation.__name__ for i in (3, 5, 7)] == ["relu", "relu", "softmax"]


@pytest.mark.parametrize(
    "model,shape",
    [
        ("functionals_mlp", (624,)),
        ("linear_softmax", (300,)),
        ("cnn_logmel", (98, 64)),
        ("lstm_baseline", (40, 1)),
    ],
)
def test_every_voice_model_exports_to_int8_and_runs_in_litert(model, shape, tmp_path):
    keras.utils.set_random_seed(0)
    features = np.random.default_rng(0).standard_normal((16, *shape)).astype(np.float32)
    config = VoiceTrainConfig.from_section(
        Section("voice_train", TRAIN_PARAMS | {"model": model}),
        {"cnn_logmel": "logmel", "lstm_baseline": "mfcc_mean"}.get(model, "paralinguistic"),
    )
    keras_model = build_voice_model(config, shape, 7)
    path = tmp_path / "int8.tflite"
    path.write_bytes(to_tflite(keras_model, "int8", features))
    int8 = TFLiteClassifier(path)
    assert int8.input_dtype == np.int8
    probabilities = int8.dequantize_output(int8.invoke_raw(int8.quantize_input(features[:1])))
    assert probabilities.shape == (1, 7) and abs(probabilities.sum() - 1) < 0.05
    rows = [int8.dequantize_output(int8.invoke_raw(int8.quantize_input(row[None])))[0] for row in features]
    expected = keras_model.predict(features, verbose=0)
    assert np.abs(np.stack(rows) - expected).max() < 0.05  # untrained: near-ties, so values, not argmax


def test_a_model_that_cannot_read_the_features_is_a_one_line_params_error():
    with pytest.raises(ParamsError) as error:
        VoiceTrainConfig.from_section(
            Section("voice_train", TRAIN_PARAMS | {"model": "lstm_baseline"}), "logmel"
        )
    assert "voice_train.model: lstm_baseline needs voice_features.kind mfcc_mean" in str(error.value)
    with pytest.raises(
        ParamsError, match="linear_softmax needs voice_features.kind functionals or prosody or "
    ):
        VoiceTrainConfig.from_section(
            Section("voice_train", TRAIN_PARAMS | {"model": "linear_softmax"}), "logmel"
        )
    section = {"kind": "functionals", "frame_ms": 25, "hop_ms": 10, "n_mels": 64, "n_mfcc": 40}
    section |= {"fmin": 20, "fmax": 8000, "cmvn": True, "standardize": True, "speaker_norm": False}
    with pytest.raises(ParamsError, match="voice_features.cmvn: must be false for functionals"):
        FeatureConfig.from_section(Section("voice_features", section), 16000, 2.0)
    with pytest.raises(ParamsError, match="voice_features.fmax"):
        FeatureConfig.from_section(Section("voice_features", section | {"cmvn": False}), 8000, 2.0)


def test_training_batches_are_masked_mixed_and_the_same_for_the_same_seed():
    config = VoiceTrainConfig.from_section(
        Section("voice_train", TRAIN_PARAMS | {"model": "cnn_logmel"}), "logmel"
    )
    features = np.ones((16, 50, 20), np.float32)
    labels = np.arange(16) % 4

    def first_batch():
        return next(iter(make_voice_dataset(features, labels, 4, 8, True, config)))

    (x1, y1), (x2, y2) = first_batch(), first_batch()
    np.testing.assert_array_equal(x1.numpy(), x2.numpy())
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    assert (x1.numpy() == 0).any()  # masked bands
    assert np.allclose(y1.numpy().sum(1), 1) and (y1.numpy().max(1) < 1).any()  # mixed-up labels
    x_val, y_val = next(iter(make_voice_dataset(features, labels, 4, 8, False)))
    assert (x_val.numpy() == 1).all() and set(np.unique(y_val.numpy())) == {0, 1}


LBFGS_PARAMS = TRAIN_PARAMS | {"model": "linear_softmax", "solver": "lbfgs", "dropout": 0.0}
LBFGS_PARAMS |= {"mixup_alpha": 0.0, "l2": 0.01, "epochs": 500}


def separable_clusters(n: int, dims: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping Gaussian clusters of unequal sizes: a problem with a unique, finite optimum."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(classes, n, p=np.arange(1, classes + 1) / np.arange(1, classes + 1).sum())
    centres = rng.standard_normal((classes, dims))
    return (centres[labels] + 1.5 * rng.standard_normal((n, dims))).astype(np.float32), labels


def test_lbfgs_reaches_the_optimum_of_the_loss_keras_reports():
    """The fit is scikit-learn's class-weighted logistic regression at C = 1 / (2 l2 n), and
    the loss it minimises is the loss Keras computes for the same weights."""
    from sklearn.linear_model import LogisticRegression

    x, y = separable_clusters(240, 12, 4, seed=0)
    config = VoiceTrainConfig.from_section(Section("voice_train", LBFGS_PARAMS), "paralinguistic")
    model, history, summary = train_voice_model(config, (x, y), (x[:0], y[:0]), 4, "unused")
    assert summary["kept_epoch"] == summary["epochs_run"] == len(history["loss"]) < 500
    assert summary["converged"]
    counts = np.bincount(y)
    weights = (len(y) / (4 * counts))[y]
    reference = LogisticRegression(C=1 / (2 * 0.01 * len(y)), tol=1e-10, max_iter=10_000)
    reference.fit(x.astype(np.float64), y, sample_weight=weights)
    kernel, bias = model.get_layer("probabilities").get_weights()
    np.testing.assert_allclose(kernel, reference.coef_.T, atol=2e-4)
    np.testing.assert_allclose(
        bias - bias.mean(), reference.intercept_ - reference.intercept_.mean(), atol=2e-4
    )
    model.compile(loss=keras.losses.CategoricalCrossentropy())
    keras_loss = model.evaluate(x, np.eye(4)[y], sample_weight=weights, batch_size=len(y), verbose=0)
    assert keras_loss == pytest.approx(history["loss"][-1], rel=1e-5)
    assert history["loss"][-1] < history["loss"][0]


def test_lbfgs_beats_adam_on_the_same_loss():
    """Minibatch Adam for as many epochs ends above the optimum L-BFGS finds."""
    x, y = separable_clusters(300, 40, 5, seed=1)
    adam = VoiceTrainConfig.from_section(
        Section("voice_train", LBFGS_PARAMS | {"solver": "adam", "epochs": 30, "learning_rate": 0.01}),
        "paralinguistic",
    )
    _, adam_history, _ = train_voice_model(adam, (x, y), (x[:0], y[:0]), 5, "unused")
    config = VoiceTrainConfig.from_section(Section("voice_train", LBFGS_PARAMS), "paralinguistic")
    _, history, _ = train_voice_model(config, (x, y), (x[:0], y[:0]), 5, "unused")
    assert history["loss"][-1] < adam_history["loss"][-1] - 1e-3


def test_lbfgs_keeps_the_iteration_best_on_validation_and_stops_early():
    x, y = separable_clusters(300, 30, 3, seed=2)
    (x_train, y_train), (x_val, y_val) = (x[:60], y[:60]), (x[60:], y[60:])
    params = LBFGS_PARAMS | {"keep": "best", "l2": 1e-5, "early_stopping_patience": 15}
    config = VoiceTrainConfig.from_section(Section("voice_train", params), "paralinguistic")
    model, history, summary = train_voice_model(config, (x_train, y_train), (x_val, y_val), 3, "unused")
    best = int(np.argmax(history["val_accuracy"]))
    assert summary["kept_epoch"] == best + 1 and summary["val_accuracy"] == history["val_accuracy"][best]
    assert len(history["val_accuracy"]) == best + 1 + 15  # stopped 15 iterations after the best
    predicted = model.predict(x_val, verbose=0).argmax(1)
    assert (predicted == y_val).mean() == pytest.approx(history["val_accuracy"][best])


def test_lbfgs_reports_progress_while_it_runs(monkeypatch, capsys):
    """A long L-BFGS run is not silent: a progress line at most every PROGRESS_SECONDS."""
    from stressvision.voice import training

    x, y = separable_clusters(120, 8, 3, seed=4)
    config = VoiceTrainConfig.from_section(Section("voice_train", LBFGS_PARAMS), "paralinguistic")
    monkeypatch.setattr(training, "PROGRESS_SECONDS", 0.0)
    _, history, _ = train_voice_model(config, (x[:90], y[:90]), (x[90:], y[90:]), 3, "unused")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("lbfgs: iteration")]
    assert len(lines) == len(history["loss"])
    assert lines[0].startswith("lbfgs: iteration 1/500, loss ") and "val_accuracy" in lines[0]


def test_fit_softmax_regression_stops_at_max_iterations_and_says_it_did_not_converge():
    x, y = separable_clusters(200, 20, 3, seed=3)
    short = fit_softmax_regression(x, y, 3, l2=1e-4, max_iterations=3)
    assert short.iterations == 3 and not short.converged
    full = fit_softmax_regression(x, y, 3, l2=1e-4, max_iterations=2000)
    assert full.converged and full.iterations > 3


@pytest.mark.parametrize(
    "updates,message",
    [
        ({"model": "functionals_mlp"}, "voice_train.solver: lbfgs solves the convex linear_softmax only"),
        ({"dropout": 0.2}, "voice_train.dropout: must be 0 with solver: lbfgs"),
        ({"mixup_alpha": 0.2}, "voice_train.mixup_alpha: must be 0 with solver: lbfgs"),
        ({"solver": "sgd"}, "voice_train.solver"),
    ],
)
def test_lbfgs_param_errors(updates, message):
    with pytest.raises(ParamsError, match=message):
        VoiceTrainConfig.from_section(Section("voice_train", LBFGS_PARAMS | updates), "paralinguistic")
