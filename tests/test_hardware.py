"""`train.precision: auto` and the warning for an emulated precision, from the CPU's flags."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import pytest

from stressvision import training
from stressvision.hardware import cpu_flags, prefer_onednn, resolve_precision
from tests.conftest import ROOT
from tests.test_models import NUM_CLASSES, faces, train_config

AVX2 = frozenset({"fpu", "sse2", "avx", "avx2", "fma"})
AVX512_BF16 = AVX2 | {"avx512f", "avx512_bf16"}


def test_cpu_flags_reads_x86_and_arm_cpuinfo(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text(  # two processors: the first one's flags are read
        "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n"
    )
    assert cpu_flags(x86) == {"fpu", "avx2", "avx512_bf16"}
    arm = tmp_path / "arm"  # a Raspberry Pi 5 (Cortex-A76): no bf16
    arm.write_text("processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes crc32 asimddp\n")
    assert cpu_flags(arm) == {"fp", "asimd", "evtstrm", "aes", "crc32", "asimddp"}
    (tmp_path / "none").write_text("processor\t: 0\n")
    assert cpu_flags(tmp_path / "none") is None
    assert cpu_flags(tmp_path / "missing") is None  # not Linux: nothing known


@pytest.mark.parametrize(
    ("requested", "gpus", "flags", "expected", "note"),
    [
        ("auto", 1, AVX2, "mixed_float16", "auto: 1 GPU(s)"),
        ("auto", 0, AVX512_BF16, "mixed_bfloat16", "auto: no GPU, and this CPU computes bfloat16 natively"),
        (
            "auto",
            0,
            frozenset({"amx_bf16"}),
            "mixed_bfloat16",
            "auto: no GPU, and this CPU computes bfloat16",
        ),
        (
            "auto",
            0,
            frozenset({"asimd", "bf16"}),
            "mixed_bfloat16",
            "auto: no GPU, and this CPU computes bfloat16",
        ),
        ("auto", 0, AVX2, "float32", "auto: no GPU, and this CPU has no AVX512_BF16/AMX"),
        ("auto", 0, None, "float32", "auto: no GPU, and this CPU's flags are unknown"),
        ("mixed_bfloat16", 0, AVX2, "mixed_bfloat16", "warning: this CPU has no AVX512_BF16/AMX"),
        ("mixed_bfloat16", 0, AVX512_BF16, "mixed_bfloat16", ""),
        ("mixed_bfloat16", 1, AVX2, "mixed_bfloat16", ""),
        ("mixed_bfloat16", 0, None, "mixed_bfloat16", ""),  # unknown CPU: no warning
        ("mixed_float16", 0, AVX512_BF16, "mixed_float16", "warning: no GPU, so mixed_float16 runs emulated"),
        ("mixed_float16", 2, AVX2, "mixed_float16", ""),
        ("float32", 0, AVX2, "float32", ""),
        ("float32", 1, AVX512_BF16, "float32", ""),
    ],
)
def test_resolve_precision(requested, gpus, flags, expected, note):
    precision, said = resolve_precision(requested, gpus, flags)
    assert precision == expected and said.startswith(note) and "\n" not in said
    assert bool(said) == bool(note)
    if said.startswith("warning"):
        assert "set train.precision to float32 or auto" in said


class PolicyDuringFit(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        layers = [layer for layer in self.model.layers if layer.name != "probabilities"]  # float32 always
        self.policies = {layer.dtype_policy.name for layer in layers}


@pytest.mark.parametrize(
    ("flags", "policy", "said"),
    [
        (
            AVX512_BF16,
            "mixed_bfloat16",
            "train: precision mixed_bfloat16 (auto: no GPU, and this CPU computes bfloat16",
        ),
        (AVX2, "float32", "train: precision float32 (auto: no GPU"),
    ],
)
def test_auto_precision_trains_in_what_the_cpu_computes(tmp_path, monkeypatch, capsys, flags, policy, said):
    monkeypatch.setattr(training, "cpu_flags", lambda: flags)
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
