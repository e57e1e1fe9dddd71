"""The canary verdict, a pure function of what the canary and the other devices showed."""

import pytest

from cloud_hub.registry.canary import Observed, Verdict, verdict

LIMITS = {"window_s": 60.0, "max_error_rate": 0.05, "max_latency_ratio": 1.5}
BASE = Observed(requests=100, errors=0, latency_p50_ms=4.0)


@pytest.mark.parametrize(
    ("canary", "elapsed", "expected", "why"),
    [
        (Observed(20, 5, 4.0), 1.0, Verdict.DEGRADED, "canary error rate 0.20 above 0.05"),
        (Observed(20, 0, 6.5), 1.0, Verdict.DEGRADED, "canary p50 latency 6.5 ms over 1.5x"),
        (Observed(2, 2, 4.0), 1.0, Verdict.WAIT, "observing"),  # too few requests to judge
        (Observed(20, 0, 5.0), 1.0, Verdict.WAIT, "observing"),
        (Observed(20, 0, 5.0), 60.0, Verdict.HEALTHY, "no degradation over the window"),
        (Observed(0, 0, None), 60.0, Verdict.HEALTHY, "no degradation over the window"),
    ],
)
def test_verdict(canary: Observed, elapsed: float, expected: Verdict, why: str) -> None:
    got, reason = verdict(canary, BASE, elapsed_s=elapsed, **LIMITS)
    assert got is expected
    assert reason.startswith(why)


def test_a_noisy_fleet_raises_the_error_bar() -> None:
    """Errors count against the canary only beyond twice the rest of the fleet's rate."""
    noisy = Observed(requests=80, errors=20, latency_p50_ms=4.0)  # 20 % everywhere
    got, _ = verdict(Observed(30, 10, 4.0), noisy, elapsed_s=1.0, **LIMITS)  # 25 %
    assert got is Verdict.WAIT
    got, why = verdict(Observed(10, 10, 4.0), noisy, elapsed_s=1.0, **LIMITS)  # 50 %
    assert (got, why) == (Verdict.DEGRADED, "canary error rate 0.50 above 0.40")


def test_a_fast_model_is_not_rolled_back_for_noise() -> None:
    """0.3 against 0.6 ms is twice as slow but 0.3 ms apart: within run-to-run noise (the
    floor, 2 ms by default); 3 ms apart is a real slowdown."""
    fast = Observed(requests=100, errors=0, latency_p50_ms=0.3)
    got, _ = verdict(Observed(20, 0, 0.6), fast, elapsed_s=1.0, **LIMITS)
    assert got is Verdict.WAIT
    got, why = verdict(Observed(20, 0, 3.3), fast, elapsed_s=1.0, **LIMITS)
    assert (got, why.split(" ms")[0]) == (Verdict.DEGRADED, "canary p50 latency 3.3")
    got, _ = verdict(Observed(20, 0, 0.6), fast, elapsed_s=1.0, min_latency_increase_ms=0, **LIMITS)
    assert got is Verdict.DEGRADED  # the floor is a setting of the deployment
