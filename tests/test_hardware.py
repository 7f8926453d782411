"""`train.precision: auto` and the warning for an emulated precision, from the CPU's flags."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import pytest

from stressvision import training
from stressvision.hardware import bfloat16_pays, cpu_flags, cpu_vendor, prefer_onednn, resolve_precision
from tests.conftest import ROOT
from tests.test_models import NUM_CLASSES, faces, train_config

AVX2 = frozenset({"fpu", "sse2", "avx", "avx2", "fma"})
AVX512_BF16 = AVX2 | {"avx512f", "avx512_bf16"}
AMD, INTEL = "AuthenticAMD", "GenuineIntel"


def test_cpu_flags_reads_x86_and_arm_cpuinfo(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text(  # two processors: the first one's flags are read
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_bf16\n"
        "\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\n"
    )
    assert cpu_flags(x86) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_vendor(x86) == AMD
    arm = tmp_path / "arm"  # a Raspberry Pi 5 (Cortex-A76): no bf16
    arm.write_text("processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes crc32 asimddp\n")
    assert cpu_flags(arm) == {"fp", "asimd", "evtstrm", "aes", "crc32", "asimddp"}
    assert cpu_vendor(arm) == ""
    (tmp_path / "none").write_text("processor\t: 0\n")
    assert cpu_flags(tmp_path / "none") is None
    assert cpu_flags(tmp_path / "missing") is None  # not Linux: nothing known
    assert cpu_vendor(tmp_path / "missing") == ""


@pytest.mark.parametrize(
    ("flags", "vendor", "pays"),
    [
        (AVX512_BF16, AMD, True),  # AMD EPYC (Zen 5): 1.2x faster than float32
        (AVX512_BF16, INTEL, False),  # Intel Xeon without AMX (hidden by the hypervisor): 1.5x slower
        (AVX512_BF16 | {"amx_tile", "amx_bf16"}, INTEL, True),
        (frozenset({"fp", "asimd", "bf16"}), "", True),  # Arm BF16
        (frozenset({"fp", "asimd", "asimddp"}), "", False),  # a Raspberry Pi 5
        (AVX2, AMD, False),
        (AVX512_BF16, "", False),  # vendor unknown: not measured
    ],
)
def test_bfloat16_pays_where_it_trained_faster(flags, vendor, pays):
    assert bfloat16_pays(flags, vendor) is pays


@pytest.mark.parametrize(
    ("requested", "gpus", "flags", "vendor", "expected", "note"),
    [
        ("auto", 1, AVX2, INTEL, "mixed_float16", "auto: 1 GPU(s)"),
        ("auto", 0, AVX512_BF16, AMD, "mixed_bfloat16", "auto: no GPU, and this CPU computes bf"),
        ("auto", 0, AVX512_BF16 | {"amx_bf16"}, INTEL, "mixed_bfloat16", "auto: no GPU, and this CPU"),
        ("auto", 0, frozenset({"asimd", "bf16"}), "", "mixed_bfloat16", "auto: no GPU, and this CPU"),
        ("auto", 0, AVX512_BF16, INTEL, "float32", "auto: no GPU, and bfloat16 trains slower"),
        ("auto", 0, AVX2, AMD, "float32", "auto: no GPU, and this CPU has no AVX512_BF16/AMX"),
        ("auto", 0, None, "", "float32", "auto: no GPU, and this CPU's flags are unknown"),
        ("mixed_bfloat16", 0, AVX2, AMD, "mixed_bfloat16", "warning: mixed_bfloat16 is emulated on this CPU"),
        ("mixed_bfloat16", 0, AVX512_BF16, INTEL, "mixed_bfloat16", "warning: mixed_bfloat16 trains slower"),
        ("mixed_bfloat16", 0, AVX512_BF16, AMD, "mixed_bfloat16", ""),
        ("mixed_bfloat16", 1, AVX2, INTEL, "mixed_bfloat16", ""),
        ("mixed_bfloat16", 0, None, "", "mixed_bfloat16", ""),  # unknown CPU: no warning
        ("mixed_float16", 0, AVX512_BF16, AMD, "mixed_float16", "warning: no GPU, so mixed_float16"),
        ("mixed_float16", 2, AVX2, INTEL, "mixed_float16", ""),
        ("float32", 0, AVX2, INTEL, "float32", ""),
        ("float32", 1, AVX512_BF16, AMD, "float32", ""),
    ],
)
def test_resolve_precision(requested, gpus, flags, vendor, expected, note):
    precision, said = resolve_precision(requested, gpus, flags, vendor)
    assert precision == expected and said.startswith(note) and "\n" not in said
    assert bool(said) == bool(note)
    if said.startswith("warning"):
        assert "set train.precision to float32 or auto" in said


@pytest.mark.parametrize("requested", ["auto", "mixed_bfloat16"])
def test_bfloat16_note_calls_the_cpu_intel_only_when_it_is(requested):
    _, intel = resolve_precision(requested, 0, AVX512_BF16, INTEL)
    assert "on an Intel CPU without AMX" in intel
    for vendor, named in [("HygonGenuine", "this one: HygonGenuine"), ("", "this one: vendor unknown")]:
        _, said = resolve_precision(requested, 0, AVX512_BF16, vendor)
        assert "on an Intel CPU" not in said and named in said and "1.5x on an Intel Xeon" in said


class PolicyDuringFit(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        layers = [layer for layer in self.model.layers if layer.name != "probabilities"]  # float32 always
        self.policies = {layer.dtype_policy.name for layer in layers}


@pytest.mark.parametrize(
    ("flags", "vendor", "policy", "said"),
    [
        (
            AVX512_BF16,
            AMD,
            "mixed_bfloat16",
            "train: precision mixed_bfloat16 (auto: no GPU, and this CPU computes bfloat16",
        ),
        (AVX512_BF16, INTEL, "float32", "train: precision float32 (auto: no GPU, and bfloat16 trains slower"),
        (AVX2, AMD, "float32", "train: precision float32 (auto: no GPU"),
    ],
)
def test_auto_precision_trains_in_what_the_cpu_computes_fastest(
    tmp_path, monkeypatch, capsys, flags, vendor, policy, said
):
    monkeypatch.setattr(training, "cpu_flags", lambda: flags)
    monkeypatch.setattr(training, "cpu_vendor", lambda: vendor)
    monkeypatch.setattr(training, "gpu_count", lambda: 0)
    images, labels = faces(16)
    seen = PolicyDuringFit()
    config = train_config(precision="auto")
    val = (images[:8], labels[:8])
    model, _, _ = training.train(config, (images, labels), val, NUM_CLASSES, tmp_path, [seen])
    assert seen.policies == {policy}
    assert said in capsys.readouterr().out
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}  # the kept model
    assert keras.mixed_precision.global_policy().name == "float32"


def test_prefer_onednn_asks_on_x86_with_avx2_unless_the_user_chose():
    for flags, environ, expected in [
        (AVX2, {}, {"TF_ENABLE_ONEDNN_OPTS": "1"}),
        (AVX2, {"TF_ENABLE_ONEDNN_OPTS": "0"}, {"TF_ENABLE_ONEDNN_OPTS": "0"}),
        (AVX512_BF16, {}, {"TF_ENABLE_ONEDNN_OPTS": "1"}),
        (frozenset({"fp", "asimd", "asimddp"}), {}, {}),  # Arm (a Raspberry Pi 5): TensorFlow's choice
        (None, {}, {}),  # flags unknown
    ]:
        prefer_onednn(flags, environ)
        assert environ == expected, flags


@pytest.mark.parametrize("stage", ["stages.train", "stages.voice_train"])
@pytest.mark.parametrize(("choice", "seen"), [(None, "1 True"), ("0", "0 False")])
def test_the_train_stages_train_with_onednn_unless_the_user_chose(stage, choice, seen):
    """TensorFlow alone turns oneDNN on only on CPUs with AVX512_VNNI/BF16 or AMX."""
    if "avx2" not in (cpu_flags() or ()):
        pytest.skip("oneDNN is asked for on x86 CPUs with AVX2 only")
    env = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    if choice is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = choice
    script = (
        "import os\n"
        f"import {stage}\n"  # the stage module first, as `python -m <stage>` runs it
        "from tensorflow.python.util import _pywrap_util_port as port\n"
        "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], port.IsMklEnabled())"
    )
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == seen
