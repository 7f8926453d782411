"""The voice stages inside the real `dvc repro` of the tiny profile (see conftest)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from stressvision.profiles import load_profile
from tests.conftest import git, run, set_params
from tests.test_pipeline import STAGES, ran_stages

pytestmark = pytest.mark.pipeline


def read(project: Path, path: str) -> dict:
    return json.loads((project / path).read_text())


def test_every_declared_plot_renders_with_data_for_both_branches(pipeline_project: Path):
    """`dvc plots show/diff` draws what dvc.yaml declares: a wrong path or column is an empty plot,
    not an error. The voice branch has the face branch's views (loss, normalised confusion,
    accuracy against latency and size)."""
    declared = yaml.safe_load((pipeline_project / "dvc.yaml").read_text())["plots"]
    titles = [next(iter(p)) if isinstance(p, dict) else p for p in declared]
    shown = json.loads(run(["dvc", "plots", "show", "--json"], pipeline_project).stdout)["data"]
    assert set(titles) <= set(shown)
    for title in titles:
        (plot,) = shown[title]
        if plot["type"] == "vega":
            assert plot["content"]["data"]["values"], title
    face = [t.lower() for t in titles if t[0].isupper() and not t.startswith("Voice")]
    voice = [t.lower() for t in titles if t.startswith("Voice")]
    for view in ("loss", "normalised", "vs p95 latency", "vs size"):
        assert any(view in t for t in face) and any(view in t for t in voice), view


def test_voice_split_is_speaker_independent_and_the_model_beats_chance(pipeline_project: Path):
    split = read(pipeline_project, "metrics/voice/split.json")
    groups = [set(split[name]["speakers"]) for name in ("train", "val", "test")]
    assert all(groups) and not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    for name in ("train", "val", "test"):
        clips = np.load(pipeline_project / f"data/voice/split/{name}.npz")
        assert set(clips["speakers"].tolist()) == set(split[name]["speakers"])
    evaluate = read(pipeline_project, "metrics/voice/evaluate.json")
    assert set(evaluate["per_speaker"]) == set(split["test"]["speakers"])
    assert evaluate["n"] == sum(s["n"] for s in evaluate["per_speaker"].values())
    assert evaluate["accuracy"] >= 1 / 7 + 0.3, evaluate["accuracy"]  # 7 emotions: chance is 0.14
    quantize = read(pipeline_project, "metrics/voice/quantize.json")
    assert quantize["int8"]["accuracy"] >= quantize["float32"]["accuracy"] - 0.05, quantize


def test_the_train_split_gets_speed_copies_normalised_as_their_own_speakers(pipeline_project: Path):
    """voice_balance adds a copy of each train clip at 0.9 and 1.1 (the default); val and test
    keep only real clips; each copy set is speaker-normalised by its own statistics."""
    balance = read(pipeline_project, "metrics/voice/balance.json")
    split = np.load(pipeline_project / "data/voice/split/train.npz")
    train = np.load(pipeline_project / "data/voice/balanced/train.npz")
    n = len(split["labels"])
    assert balance["speed_copies"] == 2 * n and balance["n"] == len(train["labels"]) == 3 * n
    assert {s.split("@")[-1] for s in train["speakers"][n:].tolist()} == {"x0.9", "x1.1"}
    features = np.load(pipeline_project / "data/voice/features/train.npz")
    for speaker in set(features["speakers"].tolist()):  # mean 0, std 1 per (copy of a) speaker
        rows = features["features"][features["speakers"] == speaker].astype(np.float64)
        assert np.abs(rows.mean(0)).max() < 0.02, speaker  # float32 noise on near-constant values
        assert np.median(np.abs(rows.std(0) - 1)) < 1e-3, speaker
    for name in ("val", "test"):
        assert "@" not in "".join(np.load(pipeline_project / f"data/voice/features/{name}.npz")["speakers"])


def test_voice_tflite_chain_matches_keras_on_the_wav_clips(pipeline_project: Path):
    import keras

    from stressvision.fileio import read_json
    from stressvision.voice.features import FeatureExtractor
    from stressvision.voice.inference import VoiceClassifier
    from stressvision.voice.speakers import speaker_normalize

    test = np.load(pipeline_project / "data/voice/split/test.npz")
    clips, speakers = test["clips"].astype(np.float32) / 32768.0, test["speakers"]
    extractor = FeatureExtractor.from_meta(read_json(pipeline_project / "data/voice/features/meta.json"))
    assert extractor.config.kind == "paralinguistic" and extractor.config.speaker_norm  # the default
    features = speaker_normalize(extractor.extract(clips), speakers)
    stored = np.load(pipeline_project / "data/voice/features/test.npz")["features"]
    np.testing.assert_allclose(features, stored, atol=1e-4)
    expected = keras.models.load_model(pipeline_project / "models/voice/keras/model.keras").predict(
        features, verbose=0
    )
    tflite = pipeline_project / "models/voice/tflite"
    float32 = VoiceClassifier(tflite / "float32.tflite")
    # atol: a time-above-level functional may count one frame of 197 differently under TFLite's rounding
    np.testing.assert_allclose(float32.predict(clips, speakers), expected, atol=1e-2)
    int8 = VoiceClassifier(tflite / "int8.tflite")
    assert int8.classifier.input_dtype == np.int8 and int8.classifier.output_dtype == np.int8
    assert (int8.predict(clips, speakers).argmax(1) == expected.argmax(1)).mean() >= 0.85
    config = read_json(tflite / "model_config.json")
    assert config["modality"] == "voice" and len(config["classes"]) == 7
    assert config["input"]["samples"] == 32000 and (tflite / config["features_model"]).is_file()


def test_a_voice_param_reruns_only_voice_stages(pipeline_project: Path):
    set_params(pipeline_project, {"voice_benchmark": {"runs": 12}})
    assert ran_stages(run(["dvc", "repro", "voice_benchmark"], pipeline_project).stdout) == [
        "voice_benchmark"
    ]
    status = json.loads(run(["dvc", "status", "--json"], pipeline_project).stdout)
    assert not set(status) & {f"voice_{s}" for s in ("download", "train", "benchmark")}
    assert read(pipeline_project, "metrics/voice/benchmark.json")["runs"] == 12


def test_the_lstm_baseline_profile_runs_through_export(pipeline_project: Path):
    """The published baseline, applied as its profile, trained, quantized and benchmarked."""
    params = yaml.safe_load((pipeline_project / "params.yaml").read_text())
    for dotted, value in load_profile("voice_lstm_baseline").items():
        section, key = dotted.split(".")
        params[section][key] = value
    params["voice_train"]["epochs"] = 15
    (pipeline_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run(["dvc", "repro", "voice_benchmark"], pipeline_project)
    ran = ran_stages(result.stdout)  # the baseline's profile turns the speed copies off
    assert ran == ["voice_balance", "voice_features", "voice_train", "voice_quantize", "voice_benchmark"]
    assert not set(ran) & set(STAGES)
    assert read(pipeline_project, "models/voice/keras/model_config.json")["model"] == "lstm_baseline"
    assert np.load(pipeline_project / "data/voice/features/test.npz")["features"].shape[1:] == (40, 1)
    history = (pipeline_project / "plots/voice/train/history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,") and "val_accuracy" in history[0] and len(history) == 16
    assert read(pipeline_project, "metrics/voice/quantize.json")["int8"]["size_mb"] > 0
    git(pipeline_project, "checkout", "params.yaml")


def test_with_no_validation_speakers_every_other_speaker_trains(pipeline_project: Path):
    """`voice_split.val: 0` trains on every non-test speaker and keeps the last epoch; choosing
    the best epoch then has nothing to choose on and says so in one line."""
    before = read(pipeline_project, "data/voice/split/meta.json")
    set_params(pipeline_project, {"voice_split": {"val": 0.0}})
    run(["dvc", "repro", "voice_evaluate"], pipeline_project)
    split = read(pipeline_project, "data/voice/split/meta.json")
    assert split["val"]["n"] == 0 and split["test"]["speakers"] == before["test"]["speakers"]
    assert split["train"]["speakers"] == sorted(before["train"]["speakers"] + before["val"]["speakers"])
    train = read(pipeline_project, "metrics/voice/train.json")
    assert "val_accuracy" not in train and train["kept_epoch"] == train["epochs_run"]
    assert read(pipeline_project, "metrics/voice/evaluate.json")["accuracy"] > 1 / 7
    set_params(pipeline_project, {"voice_train": {"keep": "best"}})
    failed = run(["dvc", "repro", "voice_evaluate"], pipeline_project, check=False)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr + failed.stdout
    assert "voice_split.val: 0 leaves no validation speakers" in failed.stderr + failed.stdout
    git(pipeline_project, "checkout", "params.yaml")
