"""Canary verdicts as a pure function of observed request counts, errors and latencies."""

from dataclasses import dataclass
from enum import StrEnum

LATENCY_FLOOR_MS = 2.0
"""A canary is slower only by more than this, whatever the ratio: `bench edge` measures the
same code's MQTT p50 at 3.3-5.1 ms from run to run, and a fast model (engine-fault answers in
well under 1 ms) would otherwise be rolled back for noise."""


class Verdict(StrEnum):
    WAIT = "wait"
    HEALTHY = "healthy"
    DEGRADED = "degraded"


@dataclass(frozen=True, slots=True)
class Observed:
    requests: int
    errors: int
    latency_p50_ms: float | None

    @property
    def error_rate(self) -> float:
        total = self.requests + self.errors
        return self.errors / total if total else 0.0


def verdict(
    canary: Observed,
    baseline: Observed,
    *,
    elapsed_s: float,
    window_s: float,
    max_error_rate: float,
    max_latency_ratio: float,
    min_latency_increase_ms: float = LATENCY_FLOOR_MS,
    min_requests: int = 5,
) -> tuple[Verdict, str]:
    """DEGRADED as soon as the evidence says so; HEALTHY only after the whole window."""
    if canary.requests + canary.errors >= min_requests:
        limit = max(max_error_rate, baseline.error_rate * 2)
        if canary.error_rate > limit:
            return Verdict.DEGRADED, (
                f"canary error rate {canary.error_rate:.2f} above {limit:.2f}"
            )
        if (
            canary.latency_p50_ms is not None
            and baseline.latency_p50_ms
            and canary.latency_p50_ms > max_latency_ratio * baseline.latency_p50_ms
            and canary.latency_p50_ms - baseline.latency_p50_ms > min_latency_increase_ms
        ):
            return Verdict.DEGRADED, (
                f"canary p50 latency {canary.latency_p50_ms:.1f} ms over "
                f"{max_latency_ratio}x baseline "
                f"{baseline.latency_p50_ms:.1f} ms"
            )
    if elapsed_s < window_s:
        return Verdict.WAIT, "observing"
    return Verdict.HEALTHY, "no degradation over the window"
