"""Reconnect backoff: exponential with jitter from tenacity, capped, reset after success."""

from edge_agent.link import Backoff


def test_backoff_grows_caps_and_resets() -> None:
    backoff = Backoff(0.5, 4.0)
    delays = [backoff.next() for _ in range(8)]
    assert 0.5 <= delays[0] <= 1.0
    assert 1.0 <= delays[1] <= 1.5
    assert 2.0 <= delays[2] <= 2.5
    assert all(d <= 4.0 for d in delays)
    assert delays[-1] == 4.0
    backoff.reset()
    assert backoff.next() <= 1.0
