"""The offload policy as tables of cases: one row per rule of thumb of SPEC §2 and more."""

import pytest

from edge_agent.offload import (
    Mode,
    Reason,
    Signals,
    Thresholds,
    Where,
    adaptive,
    confidence_of,
    decide,
    load_score,
    second_opinion,
    want_full_model,
)

T = Thresholds()
E, C = Where.EDGE, Where.CLOUD
UP = {"cloud_available": True}

# (name, signals, previous, expected where, expected reason)
ADAPTIVE = [
    ("cloud down -> edge", Signals(cpu=0.95, local_ms=50, cloud_ms=5), None, E, Reason.CLOUD_DOWN),
    # SPEC §2: run locally when device load < 0.6 and cloud latency > 150 ms
    ("rule of thumb: light load, slow cloud", Signals(cpu=0.5, local_ms=5, cloud_ms=200, **UP),
     None, E, Reason.CLOUD_SLOW),
    ("slow cloud but loaded device compares latency",
     Signals(cpu=0.9, queue_wait_ms=300, local_ms=20, cloud_ms=200, **UP), None, C,
     Reason.DEVICE_OVERLOADED),
    # SPEC §2 healthy bands: CPU < 70 %, memory < 65 %
    ("cpu out of band, cloud as fast", Signals(cpu=0.8, local_ms=10, cloud_ms=11, **UP), None, C,
     Reason.DEVICE_OVERLOADED),
    ("memory out of band", Signals(mem=0.7, local_ms=10, cloud_ms=9, **UP), None, C,
     Reason.DEVICE_OVERLOADED),
    ("cpu out of band, cloud slower but acceptable", Signals(cpu=0.8, local_ms=4, cloud_ms=40,
     **UP), None, C, Reason.DEVICE_OVERLOADED),
    ("cpu out of band, cloud slow and slower", Signals(cpu=0.8, local_ms=4, cloud_ms=200, **UP),
     None, E, Reason.EDGE_FASTER),
    ("... but measured long ago: explore once", Signals(cpu=0.8, local_ms=4, cloud_ms=200,
     cloud_stale=True, **UP), None, C, Reason.EXPLORE),
    ("healthy device never explores", Signals(cpu=0.2, local_ms=4, cloud_ms=100,
     cloud_stale=True, **UP), None, E, Reason.EDGE_FASTER),
    ("healthy device, edge faster", Signals(cpu=0.2, local_ms=2, cloud_ms=8, **UP), None, E,
     Reason.EDGE_FASTER),
    ("healthy device, cloud clearly faster", Signals(cpu=0.2, local_ms=30, cloud_ms=8, **UP),
     None, C, Reason.CLOUD_FASTER),
    # SPEC §2 voice: offload only when RTT < 100 ms and battery > 20 %
    ("voice on a slow link stays local", Signals(voice=True, cpu=0.9, rtt_ms=120, local_ms=9,
     cloud_ms=5, **UP), None, E, Reason.VOICE_RTT),
    ("voice on a fast link may go", Signals(voice=True, cpu=0.9, rtt_ms=20, local_ms=9,
     cloud_ms=5, **UP), None, C, Reason.DEVICE_OVERLOADED),
    ("voice, low battery", Signals(voice=True, cpu=0.9, rtt_ms=20, battery=0.15, local_ms=9,
     cloud_ms=5, **UP), None, E, Reason.BATTERY_LOW),
    ("voice, battery just above 20 %", Signals(voice=True, rtt_ms=20, battery=0.25, local_ms=30,
     cloud_ms=5, **UP), None, C, Reason.CLOUD_FASTER),
    ("never measured cloud, loaded device tries it", Signals(cpu=0.9, local_ms=3, **UP), None, C,
     Reason.DEVICE_OVERLOADED),
    ("never measured cloud, healthy device", Signals(cpu=0.1, local_ms=3, **UP), None, E,
     Reason.EDGE_FASTER),
    # hysteresis: switching needs a clear margin; load bands widen once chosen
    ("hold cloud while edge only slightly faster", Signals(local_ms=9, cloud_ms=10, **UP), C, C,
     Reason.HOLD),
    ("leave cloud when edge clearly faster", Signals(local_ms=5, cloud_ms=10, **UP), C, E,
     Reason.EDGE_FASTER),
    ("hold edge while cloud only slightly faster", Signals(local_ms=10, cloud_ms=9, **UP), E, E,
     Reason.HOLD),
    ("cpu 0.65 after cloud: still overloaded (band 0.7 - 0.1)",
     Signals(cpu=0.65, local_ms=10, cloud_ms=11, **UP), C, C, Reason.DEVICE_OVERLOADED),
    ("cpu 0.65 fresh: healthy", Signals(cpu=0.65, local_ms=10, cloud_ms=11, **UP), None, E,
     Reason.EDGE_FASTER),
    ("load 0.65 after edge keeps the slow-cloud rule", Signals(cpu=0.65, local_ms=10, cloud_ms=160,
     **UP), E, E, Reason.CLOUD_SLOW),
    ("probe RTT only: RTT + local time estimates the cloud", Signals(local_ms=3, rtt_ms=1, **UP),
     None, E, Reason.EDGE_FASTER),
    # back from the cloud: a stale local time (measured under load) is re-measured once
    ("after cloud, load gone, stale local numbers: explore the edge",
     Signals(cpu=0.1, local_ms=40, cloud_ms=8, local_stale=True, **UP), C, E, Reason.EXPLORE),
    ("after cloud, still loaded: no edge exploration",
     Signals(cpu=0.9, local_ms=40, cloud_ms=8, local_stale=True, **UP), C, C,
     Reason.DEVICE_OVERLOADED),
    ("fresh local numbers, cloud clearly faster: stay", Signals(cpu=0.1, local_ms=40, cloud_ms=8,
     **UP), C, C, Reason.CLOUD_FASTER),
]  # fmt: skip


@pytest.mark.parametrize(
    ("signals", "previous", "where", "reason"),
    [c[1:] for c in ADAPTIVE],
    ids=[c[0] for c in ADAPTIVE],
)
def test_adaptive(signals: Signals, previous: Where | None, where: Where, reason: Reason) -> None:
    decision = adaptive(signals, T, previous)
    assert (decision.where, decision.reason) == (where, reason)
    assert decision.counter == f"offload.{where.value}.{reason.value}"


MODES = [
    (Mode.EDGE, Signals(cpu=1.0, local_ms=100, cloud_ms=1, **UP), E, Reason.MODE_EDGE),
    (Mode.CASCADE, Signals(cpu=1.0, **UP), E, Reason.MODE_EDGE),
    (Mode.CLOUD, Signals(**UP), C, Reason.MODE_CLOUD),
    (Mode.CLOUD, Signals(), E, Reason.CLOUD_DOWN),
    (Mode.CLOUD, Signals(battery=0.1, **UP), E, Reason.BATTERY_LOW),
    (Mode.ADAPTIVE, Signals(local_ms=1, cloud_ms=20, **UP), E, Reason.EDGE_FASTER),
]


@pytest.mark.parametrize(("mode", "signals", "where", "reason"), MODES)
def test_modes(mode: Mode, signals: Signals, where: Where, reason: Reason) -> None:
    assert decide(mode, signals, T) == (decision := decide(mode, signals, T))
    assert (decision.where, decision.reason) == (where, reason)


CASCADE = [
    ("no face found: unsure", 0.0, Signals(**UP), C, Reason.UNCERTAIN),
    ("weak face", 0.6, Signals(**UP), C, Reason.UNCERTAIN),
    ("sure face", 0.9, Signals(**UP), E, Reason.CONFIDENT),
    ("unsure, cloud down: edge answers (hard sample kept)", 0.5, Signals(), E, Reason.CLOUD_DOWN),
    ("unsure, battery low", 0.5, Signals(battery=0.1, **UP), E, Reason.BATTERY_LOW),
    ("band edge is inclusive", 0.75, Signals(**UP), C, Reason.UNCERTAIN),
]


@pytest.mark.parametrize(
    ("confidence", "signals", "where", "reason"),
    [c[1:] for c in CASCADE],
    ids=[c[0] for c in CASCADE],
)
def test_cascade(confidence: float, signals: Signals, where: Where, reason: Reason) -> None:
    decision = second_opinion(confidence, signals, T)
    assert (decision.where, decision.reason) == (where, reason)


def test_custom_band() -> None:
    t = Thresholds(uncertain_low=0.2, uncertain_high=0.9)
    assert second_opinion(0.1, Signals(**UP), t).reason is Reason.CONFIDENT
    assert second_opinion(0.5, Signals(**UP), t).reason is Reason.UNCERTAIN


# SPEC §2: the full model when device load < 0.5 and priority is high
@pytest.mark.parametrize(
    ("load", "high", "expected"),
    [(0.3, True, True), (0.49, True, True), (0.5, True, False), (0.3, False, False)],
)
def test_full_model(load: float, high: bool, expected: bool) -> None:
    assert want_full_model(load, high, T) is expected


# SPEC §2: 0.4·CPU + 0.3·memory + 0.3·(RTT/100 ms)
@pytest.mark.parametrize(
    ("cpu", "mem", "rtt", "score"),
    [(0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 100.0, 1.0), (0.7, 0.65, 50.0, 0.625)],
)
def test_load_score(cpu: float, mem: float, rtt: float, score: float) -> None:
    assert load_score(Signals(cpu=cpu, mem=mem, rtt_ms=rtt)) == pytest.approx(score)


@pytest.mark.parametrize(
    ("output", "confidence"),
    [
        ({"faces": [], "image_size": [1, 1]}, 0.0),
        ({"faces": [{"score": 0.4}, {"score": 0.8}]}, 0.8),
        ({"detected": False, "probability": 0.3}, 0.3),
        ({"label": 1}, None),
    ],
)
def test_confidence_of(output: dict[str, object], confidence: float | None) -> None:
    assert confidence_of(output) == confidence


def test_pure() -> None:
    s = Signals(cpu=0.9, local_ms=10, cloud_ms=11, **UP)
    assert adaptive(s, T) == adaptive(s, T)
