"""What the machine can compute fast: `train.precision: auto`, the warning for a precision that
trains slower here than float32 (bfloat16 emulated on an AVX2-only CPU: 7x slower; bfloat16 on an
Intel CPU without AMX: 1.5x slower), and TensorFlow's oneDNN kernels where it leaves them off."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo_field(keys: tuple[str, ...], cpuinfo: str | Path) -> str | None:
    """The first processor's value of the first of `keys` found, or None (unreadable or absent)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in keys:
            return value.strip()
    return None


def cpu_flags(cpuinfo: str | Path = CPUINFO) -> frozenset[str] | None:
    """The CPU's feature flags (x86 `flags`, Arm `Features`), or None where the file is unreadable
    (not Linux): then nothing is known, and nothing is warned."""
    value = _cpuinfo_field(("flags", "Features"), cpuinfo)
    return None if value is None else frozenset(value.split())


def cpu_vendor(cpuinfo: str | Path = CPUINFO) -> str:
    """The x86 vendor (`GenuineIntel`, `AuthenticAMD`), or "" (Arm, or unknown)."""
    return _cpuinfo_field(("vendor_id",), cpuinfo) or ""


def bfloat16_pays(flags: frozenset[str], vendor: str) -> bool:
    """Whether bfloat16 trains faster than float32 on this CPU, as measured (BENCHMARKS.md).

    Intel AMX and Arm BF16 are the units built for it. AVX512_BF16 alone is not enough: the
    real_default network trained 1.2x faster in bfloat16 on an AMD EPYC (Zen 5) but 1.5x slower
    on an Intel Xeon whose hypervisor hides AMX (oneDNN's native bf16 convolutions took twice
    float32's time there), so on x86 it counts only on AMD.
    """
    if "amx_bf16" in flags or "bf16" in flags:
        return True
    return "avx512_bf16" in flags and vendor == "AuthenticAMD"


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


def _without_amx(vendor: str) -> str:
    """Where AVX512_BF16 without AMX was measured slower, worded for this vendor: only Intel's was
    timed (1.5x), so another x86 vendor is told what is known, not that its CPU is an Intel."""
    if vendor == "GenuineIntel":
        return "on an Intel CPU without AMX (about 1.5x)"
    named = vendor or "vendor unknown"
    return f"on x86 CPUs without AMX but AMD's (1.5x on an Intel Xeon; this one: {named})"


def resolve_precision(
    requested: str, gpus: int, flags: frozenset[str] | None, vendor: str
) -> tuple[str, str]:
    """The Keras dtype policy to train with and a one-line note on why (or on what it costs).

    `auto` picks float16 on a GPU, bfloat16 on a CPU where it trains faster than float32
    (`bfloat16_pays`) and float32 elsewhere; an explicit policy is kept, with a warning where it
    trains slower here than float32.
    """
    if requested == "auto":
        if gpus:
            return "mixed_float16", f"auto: {gpus} GPU(s)"
        if flags is None:
            return "float32", "auto: no GPU, and this CPU's flags are unknown"
        if bfloat16_pays(flags, vendor):
            return "mixed_bfloat16", "auto: no GPU, and this CPU computes bfloat16 faster than float32"
        if "avx512_bf16" in flags:
            return "float32", f"auto: no GPU, and bfloat16 trains slower than float32 {_without_amx(vendor)}"
        return "float32", "auto: no GPU, and this CPU has no AVX512_BF16/AMX"
    if requested == "mixed_bfloat16" and not gpus and flags is not None and not bfloat16_pays(flags, vendor):
        if "avx512_bf16" in flags:
            cost = f"trains slower than float32 {_without_amx(vendor)}"
        else:
            cost = "is emulated on this CPU (no AVX512_BF16/AMX) and trains several times slower than float32"
        return requested, f"warning: mixed_bfloat16 {cost}: set train.precision to float32 or auto"
    if requested == "mixed_float16" and not gpus:
        return requested, (
            "warning: no GPU, so mixed_float16 runs emulated on the CPU and trains slower than "
            "float32: set train.precision to float32 or auto"
        )
    return requested, ""
