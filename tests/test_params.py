"""Bad params fail with one clear line that names the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stressvision.errors import ParamsError
from stressvision.labels import FER2013_EMOTIONS, label_map_from_params
from stressvision.params import Section
from stressvision.splits import SplitConfig
from tests.conftest import ROOT, deep_update, default_params, error_lines, stage_in_copy


def section(name: str, updates: dict) -> Section:
    return Section(name, deep_update(default_params()[name], updates))


def test_default_params_are_valid():
    params = default_params()
    label_map = label_map_from_params(Section("map_labels", params["map_labels"]), FER2013_EMOTIONS)
    assert label_map.classes == ("neutral", "stress", "sad", "happy", "fatigue")
    assert label_map.mapping["surprise"] == "neutral" and label_map.mapping["disgust"] == "stress"
    SplitConfig.from_section(Section("split", params["split"]))


def test_identity_mapping_is_one_change_away():
    label_map = label_map_from_params(section("map_labels", {"scheme": "emotions"}), FER2013_EMOTIONS)
    assert set(label_map.classes) == set(FER2013_EMOTIONS)
    assert all(label_map.mapping[e] == e for e in FER2013_EMOTIONS)


@pytest.mark.parametrize(
    ("updates", "key"),
    [
        ({"schemes": {"stress": {"mapping": {"happy": "joy"}}}}, "map_labels.schemes.stress.mapping.happy"),
        ({"schemes": {"stress": {"mapping": {"smirk": "happy"}}}}, "map_labels.schemes.stress.mapping.smirk"),
        ({"scheme": "nonsense"}, "map_labels.scheme"),
    ],
)
def test_bad_label_maps_name_the_key(updates, key):
    with pytest.raises(ParamsError) as err:
        label_map_from_params(section("map_labels", updates), FER2013_EMOTIONS)
    assert str(err.value).startswith(f"params.yaml: {key}:")


@pytest.mark.parametrize(
    ("updates", "key"),
    [
        ({"schemes": {"emotions": {"clases": ["angry"]}}}, "map_labels.schemes.emotions.clases: unknown key"),
        ({"schemes": {"emotions": {"mapping": "identiy"}}}, "map_labels.schemes.emotions.mapping: expected"),
        ({"schemes": {"mine": 1}}, "map_labels.schemes.mine: missing section or not a mapping"),
    ],
)
def test_a_scheme_not_selected_is_checked_too(updates, key):
    """Was accepted until a run selected that scheme (`-S map_labels.scheme=emotions`)."""
    with pytest.raises(ParamsError) as err:
        label_map_from_params(section("map_labels", updates), FER2013_EMOTIONS)
    assert str(err.value).startswith(f"params.yaml: {key}"), err.value


def test_unmapped_emotion_is_an_error():
    params = default_params()["map_labels"]
    del params["schemes"]["stress"]["mapping"]["fear"]
    with pytest.raises(ParamsError, match=r"mapping\.fear: source emotion not mapped"):
        label_map_from_params(Section("map_labels", params), FER2013_EMOTIONS)


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"train": 0.8}, "split.train + split.val + split.test: ratios must sum to 1, they sum to 1.1"),
        ({"val": -0.1}, "split.val: must be >= 0.0"),
        ({"train": 0, "val": 0.85}, "split.train: must be above 0"),
        ({"seed": "x"}, "split.seed: expected an integer"),
        ({"sed": 1}, "split.sed: unknown key"),
    ],
)
def test_bad_split_params_name_the_key(updates, message):
    with pytest.raises(ParamsError, match=message.replace("+", r"\+").replace(".", r"\.")):
        SplitConfig.from_section(section("split", updates))


@pytest.mark.parametrize(
    ("updates", "module", "args", "key"),
    [
        (
            {"train": {"model": "vgg99"}},
            "train",
            [
                "--mapped",
                "m",
                "--train",
                "t",
                "--val",
                "v",
                "--model-dir",
                "d",
                "--metrics",
                "x",
                "--plots",
                "p",
                "--live-dir",
                "l",
            ],
            "train.model",
        ),
        (
            {"split": {"test": 0.3}},
            "split",
            ["--mapped", "m", "--out", "o", "--metrics", "x"],
            "split.train + split.val",
        ),
        (
            {"map_labels": {"schemes": {"stress": {"mapping": {"sad": "gloomy"}}}}},
            "map_labels",
            ["--raw", "r", "--custom", "c", "--out", "o", "--metrics", "x"],
            "map_labels.schemes.stress.mapping.sad",
        ),
        (
            {"map_labels": {"learn": "units"}},
            "map_labels",
            ["--raw", "r", "--custom", "c", "--out", "o", "--metrics", "x"],
            "map_labels.learn",
        ),
        (
            {"balance": {"augmentation": {"contrast": [1.2, 0.8]}}},
            "balance",
            ["--mapped", "m", "--split", "s", "--out", "o", "--metrics", "x", "--plots", "p"],
            "balance.augmentation.contrast",
        ),
        (
            {"download": {"source": "fer2013"}},
            "download",
            ["--out", "raw", "--partial", "p"],
            "download.fer2013_archive",
        ),
    ],
)
def test_stage_scripts_fail_with_one_line_naming_the_key(tmp_path, updates, module, args, key):
    result = stage_in_copy(tmp_path, updates, module, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and key in lines[0], result.stderr
    assert not any(p.name != "params.yaml" and p.is_file() for p in tmp_path.iterdir())


def test_voice_benchmark_overrides_apply_after_the_profile_and_are_checked():
    from benchmarks.voice_speakers import profile_params
    from stressvision.profiles import ProfileError

    params = profile_params("voice_prosody_mlp", {"voice_train.l2": 0.02, "voice_split.val": 0.0})
    assert params["voice_train"]["l2"] == 0.02 and params["voice_split"]["val"] == 0.0
    assert params["voice_train"]["model"] == "functionals_mlp"  # the profile's
    assert params["voice_train"]["solver"] == "adam"
    with pytest.raises(ProfileError, match="voice_train.l22: not a key of params.yaml"):
        profile_params("voice_prosody_mlp", {"voice_train.l22": 0.02})


def test_set_arguments_read_values_as_yaml_and_name_the_flag_when_malformed():
    from stressvision.profiles import ProfileError, parse_overrides

    parsed = parse_overrides(["l2=0.02", "flip=true", "range=[0.9, 1.1]", "name="], "-S", "l2=0.02", "t.")
    assert parsed == {"t.l2": 0.02, "t.flip": True, "t.range": [0.9, 1.1], "t.name": None}
    for bad in ("l2", "=3"):
        with pytest.raises(ProfileError, match=f"^-S {bad}: expected KEY=VALUE, e.g. l2=0.02$"):
            parse_overrides([bad], "-S", "l2=0.02")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("augmentation.wrap=single", "--set: train.augmentation.wrap: not a key of params.yaml"),
        ("width", "--set width: expected KEY=VALUE"),
        ("width=[1,", "--set width=[1,: '[1,' is not a YAML value"),
        ("width=9", "params.yaml: train.width: must be <= 4.0, got 9"),
        ("augmentation.erasing=1.5", "params.yaml: train.augmentation.erasing: must be <= 1, got 1.5"),
        ("augmentation.blur=-0.5", "params.yaml: train.augmentation.blur: must be >= 0, got -0.5"),
        ("augmentation.blur=3", "params.yaml: train.augmentation.blur: must be <= 2.0, got 3"),
    ],
)
def test_train_speed_settings_are_checked_in_one_line(tmp_path, setting, message):
    command = [sys.executable, "-m", "benchmarks.train_speed", "--train", str(tmp_path / "none.npz")]
    result = subprocess.run([*command, "--set", setting], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"train_speed.py: error: {message}"), result.stderr


def seed_readers():
    """(section, reader) for every section whose `seed` a config class reads."""
    from stressvision.training import TrainConfig
    from stressvision.voice.speakers import SpeakerSplitConfig
    from stressvision.voice.training import VoiceTrainConfig

    return [
        ("split", SplitConfig.from_section),
        ("train", TrainConfig.from_section),
        ("voice_split", SpeakerSplitConfig.from_section),
        ("voice_train", lambda s: VoiceTrainConfig.from_section(s, "paralinguistic")),
    ]


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_numpy_or_keras_cannot_take_is_one_line(seed):
    """numpy's default_rng(-1) and Keras' set_random_seed(2**32) were tracebacks."""
    for name, reader in seed_readers():
        with pytest.raises(ParamsError) as err:
            reader(section(name, {"seed": seed}))
        assert str(err.value).startswith(f"params.yaml: {name}.seed: must be "), err.value
    for seed_ok in (0, 2**32 - 1):
        for name, reader in seed_readers():
            reader(section(name, {"seed": seed_ok}))


@pytest.mark.parametrize(
    ("updates", "module", "args", "key"),
    [
        (
            {"download": {"sample": {"seed": -1}}},
            "download",
            ["--out", "raw", "--partial", "p"],
            "download.sample.seed",
        ),
        (
            {"voice_balance": {"seed": -3}},
            "voice_balance",
            ["--mapped", "m", "--split", "s", "--out", "o", "--metrics", "x", "--plots", "p"],
            "voice_balance.seed",
        ),
        (
            {"benchmark": {"threads": 10**12}},
            "benchmark",
            ["--tflite", "t", "--test", "t.npz", "--quantize-metrics", "q", "--metrics", "x", "--plots", "p"],
            "benchmark.threads",
        ),
        (
            {"voice_benchmark": {"runs": 10**12}},
            "voice_benchmark",
            ["--tflite", "t", "--test-clips", "c", "--quantize-metrics", "q"]
            + ["--metrics", "x", "--plots", "p"],
            "voice_benchmark.runs",
        ),
        (
            {"balance": {"target_per_class": 10**9}},
            "balance",
            ["--mapped", "m", "--split", "s", "--out", "o", "--metrics", "x", "--plots", "p"],
            "balance.target_per_class",
        ),
        (
            {"voice_map_labels": {"sample_rate": 10**12}},
            "voice_map_labels",
            ["--raw", "r", "--out", "o", "--metrics", "x"],
            "voice_map_labels.sample_rate",
        ),
    ],
)
def test_out_of_range_seeds_and_counts_stop_the_stage_in_one_line(tmp_path, updates, module, args, key):
    """Were tracebacks: numpy's ValueError (seed), LiteRT's TypeError (threads), allocations of
    7 TiB (runs) and 14 TiB (a sample rate of 10**12, while decoding), out of memory after a
    minute of augmenting (target_per_class)."""
    result = stage_in_copy(tmp_path, updates, module, *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and f"params.yaml: {key}: must be " in lines[0], result.stderr


def test_numbers_and_booleans_read_as_dvc_reads_them(tmp_path):
    """DVC reads params.yaml as YAML 1.2, PyYAML as 1.1: `learning_rate: 1e-3` was a string to
    the stage (refused, while `dvc params diff` showed 0.001) and `cache: yes` a boolean (taken,
    while DVC showed the string "yes")."""
    from dvc.utils.serialize import parse_yaml

    from stressvision.params import load_params
    from stressvision.profiles import parse_overrides

    text = "train:\n  learning_rate: 1e-3\n  max_minutes: 5E+1\n  model: 1e3x\n  lr: '1e-3'\n"
    text += "  cache: yes\n  augment: off\n  class_weights: True\n  tensorboard: false\n"
    (tmp_path / "params.yaml").write_text(text)
    params = load_params(tmp_path / "params.yaml")
    assert params == parse_yaml(text, "params.yaml")
    assert params["train"]["learning_rate"] == 0.001 and params["train"]["lr"] == "1e-3"
    train = Section("train", params["train"])
    assert train.float("learning_rate", maximum=1.0) == 0.001
    assert train.bool("class_weights") is True and train.bool("tensorboard") is False
    with pytest.raises(ParamsError, match=r"^params.yaml: train.cache: expected true or false, got 'yes'$"):
        train.bool("cache")
    assert parse_overrides(["learning_rate=1e-3", "cache=on"], "-S", "x=1") == {
        "learning_rate": 0.001,
        "cache": "on",
    }


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"fmin": 9000}, "voice_features.fmin: must be < fmax (8000), got 9000"),  # named fmax
        ({"fmax": 9000}, "voice_features.fmax: must be <= voice_map_labels.sample_rate/2 (8000), got 9000"),
        ({"n_mels": 300}, "voice_features.n_mels: must be <= 256, the FFT bins from fmin to fmax (20-8000"),
        ({"n_mels": 10**12}, "voice_features.n_mels: must be <= 256"),  # a TensorFlow traceback
        ({"fmin": 7990}, "voice_features.n_mels: must be <= 1, the FFT bins from fmin to fmax (7990-"),
    ],
)
def test_voice_feature_bands_name_the_key_at_fault(updates, message):
    from stressvision.voice.features import FeatureConfig

    with pytest.raises(ParamsError) as err:
        FeatureConfig.from_section(section("voice_features", updates), 16000, 2.0)
    assert str(err.value).startswith(f"params.yaml: {message}"), err.value


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"input_size": 10**12}, "train.input_size: must be <= 512"),  # a Keras traceback
        ({"dense_units": 10**12}, "train.dense_units: must be <= 16384"),  # out of memory after 10 s
        ({"fc_units": 10**6}, "train.fc_units: must be <= 16384"),
    ],
)
def test_model_sizes_beyond_memory_are_one_line(updates, message):
    from stressvision.training import TrainConfig

    with pytest.raises(ParamsError) as err:
        TrainConfig.from_section(section("train", updates))
    assert str(err.value).startswith(f"params.yaml: {message}"), err.value
