"""The deployment KPIs (Raspberry Pi 5 targets) and their pass/fail check on benchmark figures."""

from __future__ import annotations

from dataclasses import dataclass

from stressvision.params import Section

MAX_RUNS = 1_000_000  # timed (or warm-up) invocations per variant (10**12 was a 7 TiB allocation)
MAX_THREADS = 256  # LiteRT's num_threads is a C int; beyond the cores it only slows inference


def timing_params(section: Section) -> tuple[int, int, int]:
    """`runs`, `warmup` and `threads` of a benchmark section (face and voice alike), bounded so
    that an extra digit is one line here instead of a traceback in LiteRT or numpy."""
    return (
        section.int("runs", minimum=1, maximum=MAX_RUNS),
        section.int("warmup", minimum=0, maximum=MAX_RUNS),
        section.int("threads", minimum=1, maximum=MAX_THREADS),
    )


@dataclass(frozen=True)
class Kpis:
    """Deployment targets (Raspberry Pi 5): checked on the deployed variant."""

    variant: str
    accuracy_min: float
    latency_ms_max: float
    size_mb_max: float

    @classmethod
    def from_section(cls, section: Section, variants: tuple[str, ...]) -> Kpis:
        kpis = cls(
            variant=section.choice("variant", variants),
            accuracy_min=section.float("accuracy_min", minimum=0.0, maximum=1.0),
            latency_ms_max=section.float("latency_ms_max", minimum=0.0),
            size_mb_max=section.float("size_mb_max", minimum=0.0),
        )
        section.check_no_extra_keys()
        return kpis

    def check(self, accuracy: float, latency_p95_ms: float, size_mb: float) -> dict:
        """Pass/fail per KPI; latency is judged on p95, the frame time users feel."""
        checks = {
            "accuracy": (accuracy, self.accuracy_min, accuracy >= self.accuracy_min),
            "latency_p95_ms": (latency_p95_ms, self.latency_ms_max, latency_p95_ms <= self.latency_ms_max),
            "size_mb": (size_mb, self.size_mb_max, size_mb <= self.size_mb_max),
        }
        result = {
            name: {"value": round(value, 4), "target": target, "pass": ok}
            for name, (value, target, ok) in checks.items()
        }
        result["variant"] = self.variant
        result["all_pass"] = all(ok for _, _, ok in checks.values())
        return result
