"""The per-part latency table the end-to-end benchmarks print."""

from __future__ import annotations

import numpy as np

from stressvision.litert import latency_summary


def print_parts(parts: dict[str, list[float]]) -> float:
    """Mean, p50 and p95 per part (ms), one row each; returns the p95 of the last part (the total)."""
    print(f"{'part':10s} {'mean ms':>8s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for name, values in parts.items():
        s = latency_summary(np.asarray(values))
        print(f"{name:10s} {s['mean_ms']:8.3f} {s['p50_ms']:8.3f} {s['p95_ms']:8.3f}")
    return latency_summary(np.asarray(list(parts.values())[-1]))["p95_ms"]
