"""The health state machine as a table of cases (pure functions, no I/O)."""

import pytest

from cloud_hub.health.state import (
    Runtime,
    State,
    Thresholds,
    apply,
    error_rate,
    on_health,
    on_model_error,
    on_status,
    on_tick,
)

TH = Thresholds(
    interval_s=10,
    late_factor=1.5,
    lost_after=3,
    cpu=0.7,
    mem=0.65,
    error_rate=0.2,
    model_error_window_s=60,
)
OK = {"cpu": 0.2, "mem": 0.3, "counters": {}}


@pytest.mark.parametrize(
    ("health", "state", "reason_part"),
    [
        (OK, State.ONLINE, None),
        ({**OK, "cpu": 0.95}, State.DEGRADED, "cpu"),
        ({**OK, "mem": 0.9}, State.DEGRADED, "memory"),
        ({**OK, "cpu": 0.7}, State.ONLINE, None),  # at the band's edge is still healthy
    ],
)
def test_heartbeat_figures(
    health: dict[str, object], state: State, reason_part: str | None
) -> None:
    tr = on_health(Runtime(), health, 100.0, TH)
    assert tr.state is state
    assert (tr.reason is None) if reason_part is None else (reason_part in (tr.reason or ""))


def test_rising_error_rate_degrades_and_recovers() -> None:
    rt = Runtime()
    apply(rt, on_health(rt, {**OK, "counters": {"requests": 100, "errors": 0}}, 0, TH), 0)
    tr = on_health(rt, {**OK, "counters": {"requests": 110, "errors": 5}}, 10, TH)
    assert tr.state is State.DEGRADED
    assert "error rate" in (tr.reason or "")
    apply(rt, tr, 10)
    tr = on_health(rt, {**OK, "counters": {"requests": 200, "errors": 6}}, 20, TH)
    assert tr.state is State.ONLINE


@pytest.mark.parametrize(
    ("prev", "cur", "rate"),
    [
        ({}, {"requests": 10, "errors": 5}, 0.5),
        ({"requests": 10, "errors": 5}, {"requests": 2, "errors": 0}, 0.0),  # restart: reset
        ({"requests": 10}, {"requests": 20, "errors.bad_image": 1, "errors.internal": 1}, 0.2),
        ({"requests": 10}, {"requests": 10}, 0.0),
    ],
)
def test_error_rate(prev: dict[str, int], cur: dict[str, int], rate: float) -> None:
    assert error_rate(prev, cur) == pytest.approx(rate)


def test_model_error_degrades_for_its_window() -> None:
    rt = Runtime()
    apply(rt, on_health(rt, OK, 0, TH), 0)
    apply(rt, on_model_error(rt, 5), 5)
    assert rt.state is State.DEGRADED
    assert on_health(rt, OK, 30, TH).state is State.DEGRADED
    assert on_health(rt, OK, 70, TH).state is State.ONLINE


@pytest.mark.parametrize(
    ("silent", "expected"),
    [
        (10.0, None),
        (15.1, State.DEGRADED),  # later than 1.5 intervals
        (29.9, State.DEGRADED),
        (30.0, State.LOST),  # K = 3 intervals
    ],
)
def test_ticks_degrade_then_lose(silent: float, expected: State | None) -> None:
    rt = Runtime()
    apply(rt, on_health(rt, OK, 0, TH), 0)
    tr = on_tick(rt, silent, TH)
    assert (tr.state if tr else None) is expected


def test_offline_and_lost_devices_do_not_tick_and_come_back_with_a_heartbeat() -> None:
    rt = Runtime()
    apply(rt, on_status(rt, True, 0), 0)
    apply(rt, on_status(rt, False, 1), 1)
    assert rt.state is State.OFFLINE
    assert rt.since == 1
    assert on_tick(rt, 1000, TH) is None
    rt.state = State.LOST
    assert on_tick(rt, 2000, TH) is None
    apply(rt, on_health(rt, OK, 2000, TH), 2000)
    assert rt.state is State.ONLINE
    assert rt.since == 2000
