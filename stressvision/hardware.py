"""What the machine can compute fast: `train.precision: auto`, the warning for a precision the
hardware only emulates (bfloat16 on an AVX2-only CPU trained 7x slower than float32), and
TensorFlow's oneDNN kernels where it leaves them off."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

# /proc/cpuinfo flags of CPUs that compute bfloat16 natively: x86 AVX512_BF16 and AMX, Arm BF16
BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str] | None:
    """The CPU's feature flags (x86 `flags`, Arm `Features`), or None where the file is unreadable
    (not Linux): then nothing is known, and nothing is warned."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def prefer_onednn(flags: frozenset[str] | None, environ: MutableMapping[str, str] = os.environ) -> None:
    """Ask TensorFlow for its oneDNN kernels on an x86 CPU with AVX2, unless the user chose
    (`TF_ENABLE_ONEDNN_OPTS`).

    On Linux TensorFlow turns them on by itself only on CPUs with AVX512_VNNI, AVX512_BF16,
    AVX_VNNI or AMX; on an AVX2-only CPU they train the face and voice networks up to 2x faster
    (BENCHMARKS.md). Other CPUs (Arm) keep TensorFlow's choice. TensorFlow reads the variable
    once, when it loads: call this before.
    """
    if flags is not None and "avx2" in flags:
        environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def gpu_count() -> int:
    """GPUs TensorFlow can train on here (imported late: reading flags needs no TensorFlow)."""
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def resolve_precision(requested: str, gpus: int, flags: frozenset[str] | None) -> tuple[str, str]:
    """The Keras dtype policy to train with and a one-line note on why (or on what it costs).

    `auto` picks float16 on a GPU, bfloat16 on a CPU that computes it natively and float32
    elsewhere; an explicit policy is kept, with a warning where this hardware only emulates it.
    """
    native_bf16 = flags is not None and bool(flags & BFLOAT16_CPU_FLAGS)
    if requested == "auto":
        if gpus:
            return "mixed_float16", f"auto: {gpus} GPU(s)"
        if native_bf16:
            return "mixed_bfloat16", "auto: no GPU, and this CPU computes bfloat16 natively"
        if flags is None:
            return "float32", "auto: no GPU, and this CPU's flags are unknown"
        return "float32", "auto: no GPU, and this CPU has no AVX512_BF16/AMX"
    if requested == "mixed_bfloat16" and not gpus and flags is not None and not native_bf16:
        return requested, (
            "warning: this CPU has no AVX512_BF16/AMX, so mixed_bfloat16 is emulated and trains "
            "several times slower than float32: set train.precision to float32 or auto"
        )
    if requested == "mixed_float16" and not gpus:
        return requested, (
            "warning: no GPU, so mixed_float16 runs emulated on the CPU and trains slower than "
            "float32: set train.precision to float32 or auto"
        )
    return requested, ""
