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
    ],
)
def test_train_speed_settings_are_checked_in_one_line(tmp_path, setting, message):
    command = [sys.executable, "-m", "benchmarks.train_speed", "--train", str(tmp_path / "none.npz")]
    result = subprocess.run([*command, "--set", setting], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"train_speed.py: error: {message}"), result.stderr
