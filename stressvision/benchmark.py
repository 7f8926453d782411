"""The deployment KPIs (Raspberry Pi 5 targets) and their pass/fail check on benchmark figures."""

from __future__ import annotations

from dataclasses import dataclass

from stressvision.params import Section


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
