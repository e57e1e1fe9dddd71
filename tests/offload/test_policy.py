"""The offload policy as tables of cases: one row per rule of thumb of docs/offload.md and more."""

import pytest

from edge_agent.offload import (
    Mode,
    Reason,
    Signals,
    Thresholds,
    Where,
    adaptive,
    decide,
    load_score,
    want_full_model,
)

T = Thresholds()
E, C = Where.EDGE, Where.CLOUD
UP = {"cloud_available": True}

FRESH = {"cloud_available": True, "edge_ms": 5.0, "cloud_ms": 15.0}  # both sides measured

# (name, signals, previous, expected where, expected reason, shadow run on the other side)
ADAPTIVE = [
    ("cloud down -> edge", Signals(cpu=0.95, edge_ms=50, cloud_ms=5), None, E, Reason.CLOUD_DOWN,
     False),
    # docs/offload.md: run locally when device load < 0.6 and cloud latency > 150 ms
    ("rule of thumb: light load, slow cloud", Signals(cpu=0.5, edge_ms=5, cloud_ms=200, **UP),
     None, E, Reason.CLOUD_SLOW, False),
    ("slow cloud, measured long ago: shadow-measure it", Signals(cpu=0.5, edge_ms=5, cloud_ms=200,
     cloud_stale=True, **UP), None, E, Reason.CLOUD_SLOW, True),
    ("slow cloud but loaded device compares latency", Signals(cpu=0.9, edge_ms=320, cloud_ms=200,
     **UP), None, C, Reason.DEVICE_OVERLOADED, False),
    # docs/offload.md healthy bands: CPU < 70 %, memory < 65 %: out of band, the cloud wins ties
    ("cpu out of band, cloud as fast", Signals(cpu=0.8, edge_ms=11, cloud_ms=11, **UP), None, C,
     Reason.DEVICE_OVERLOADED, False),
    ("memory out of band, cloud faster", Signals(mem=0.7, edge_ms=10, cloud_ms=9, **UP), None, C,
     Reason.DEVICE_OVERLOADED, False),
    # ... but never at a latency cost (docs/benchmarks.md: adaptive's p99 within 10 % of the
    # better side)
    ("cpu out of band, cloud slower", Signals(cpu=0.8, edge_ms=20, cloud_ms=26, **UP), None, E,
     Reason.EDGE_FASTER, False),
    ("cpu out of band, cloud slower, stale: shadow it", Signals(cpu=0.8, edge_ms=20, cloud_ms=26,
     cloud_stale=True, **UP), None, E, Reason.EDGE_FASTER, True),
    ("overloaded on the cloud: stay while the edge is not clearly faster",
     Signals(cpu=0.8, edge_ms=20, cloud_ms=22, **UP), C, C, Reason.DEVICE_OVERLOADED, False),
    ("overloaded on the cloud: leave once the edge is clearly faster",
     Signals(cpu=0.8, edge_ms=20, cloud_ms=30, **UP), C, E, Reason.EDGE_FASTER, False),
    # ... and only where the run it saves is worth the hop (Thresholds.shed_min_compute_ms):
    # a remote answer crosses the starved device twice, a 0.2 ms model is cheaper to run
    ("overloaded, as fast, costly model: shed", Signals(cpu=0.8, edge_ms=11, cloud_ms=11,
     edge_compute_ms=4.0, **UP), None, C, Reason.DEVICE_OVERLOADED, False),
    ("overloaded, as fast, model cheaper than the hop: stay", Signals(cpu=0.8, edge_ms=11,
     cloud_ms=11, edge_compute_ms=0.2, **UP), None, E, Reason.EDGE_FASTER, False),
    ("overloaded, cheap model on the cloud: hold while not clearly faster", Signals(cpu=0.8,
     edge_ms=11, cloud_ms=12, edge_compute_ms=0.2, **UP), C, C, Reason.HOLD, False),
    ("overloaded, cheap model, cloud clearly faster: go", Signals(cpu=0.8, edge_ms=30,
     cloud_ms=11, edge_compute_ms=0.2, **UP), None, C, Reason.CLOUD_FASTER, False),
    ("healthy device, edge faster", Signals(cpu=0.2, edge_ms=2, cloud_ms=8, **UP), None, E,
     Reason.EDGE_FASTER, False),
    ("healthy device, cloud clearly faster", Signals(cpu=0.2, edge_ms=30, cloud_ms=8, **UP),
     None, C, Reason.CLOUD_FASTER, False),
    ("on the cloud, edge numbers stale: shadow-measure the edge", Signals(cpu=0.2, edge_ms=30,
     cloud_ms=8, edge_stale=True, **UP), C, C, Reason.CLOUD_FASTER, True),
    # docs/offload.md voice: offload only when RTT < 100 ms and battery > 20 %
    ("voice on a slow link stays local", Signals(voice=True, cpu=0.9, rtt_ms=120, edge_ms=9,
     cloud_ms=5, **UP), None, E, Reason.VOICE_RTT, False),
    ("voice with an unknown link stays local", Signals(voice=True, cpu=0.9, edge_ms=9, cloud_ms=5,
     **UP), None, E, Reason.VOICE_RTT, False),
    ("voice on a fast link may go", Signals(voice=True, cpu=0.9, rtt_ms=20, edge_ms=9,
     cloud_ms=5, **UP), None, C, Reason.DEVICE_OVERLOADED, False),
    ("voice, low battery", Signals(voice=True, cpu=0.9, rtt_ms=20, battery=0.15, edge_ms=9,
     cloud_ms=5, **UP), None, E, Reason.BATTERY_LOW, False),
    ("voice, battery just above 20 %", Signals(voice=True, rtt_ms=20, battery=0.25, edge_ms=30,
     cloud_ms=5, **UP), None, C, Reason.CLOUD_FASTER, False),
    # start-up: a side never measured is measured by a shadow copy, the answer comes from the
    # other (deterministic: an idle device answers from the edge from the first request)
    ("nothing measured, healthy device", Signals(cpu=0.1, **UP), None, E, Reason.EXPLORE, True),
    ("nothing measured, loaded device", Signals(cpu=0.9, **UP), None, C, Reason.EXPLORE, True),
    ("cloud never measured", Signals(cpu=0.9, edge_ms=3, **UP), None, E, Reason.EXPLORE, True),
    ("edge never measured", Signals(cpu=0.1, cloud_ms=3, **UP), None, C, Reason.EXPLORE, True),
    # hysteresis: switching needs a clear margin; load bands widen once chosen
    ("hold cloud while edge only slightly faster", Signals(edge_ms=9, cloud_ms=10, **UP), C, C,
     Reason.HOLD, False),
    ("leave cloud when edge clearly faster", Signals(edge_ms=5, cloud_ms=10, **UP), C, E,
     Reason.EDGE_FASTER, False),
    ("hold edge while cloud only slightly faster", Signals(edge_ms=10, cloud_ms=9, **UP), E, E,
     Reason.HOLD, False),
    ("cpu 0.65 after cloud: still overloaded (band 0.7 - 0.1)",
     Signals(cpu=0.65, edge_ms=11, cloud_ms=11, **UP), C, C, Reason.DEVICE_OVERLOADED, False),
    ("cpu 0.65 fresh: healthy", Signals(cpu=0.65, edge_ms=11, cloud_ms=11, **UP), None, E,
     Reason.EDGE_FASTER, False),
    ("load 0.65 after edge keeps the slow-cloud rule", Signals(cpu=0.65, edge_ms=10, cloud_ms=160,
     **UP), E, E, Reason.CLOUD_SLOW, False),
    ("both fresh: no shadow", Signals(**FRESH), None, E, Reason.EDGE_FASTER, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("signals", "previous", "where", "reason", "shadow"),
    [c[1:] for c in ADAPTIVE],
    ids=[c[0] for c in ADAPTIVE],
)
def test_adaptive(
    signals: Signals, previous: Where | None, where: Where, reason: Reason, shadow: bool
) -> None:
    decision = adaptive(signals, T, previous)
    assert (decision.where, decision.reason, decision.shadow) == (where, reason, shadow)
    assert decision.counter == f"offload.{where.value}.{reason.value}"


MODES = [
    (Mode.EDGE, Signals(cpu=1.0, edge_ms=100, cloud_ms=1, **UP), E, Reason.MODE_EDGE),
    (Mode.CASCADE, Signals(cpu=1.0, **UP), E, Reason.MODE_EDGE),
    (Mode.CLOUD, Signals(**UP), C, Reason.MODE_CLOUD),
    (Mode.CLOUD, Signals(), E, Reason.CLOUD_DOWN),
    (Mode.CLOUD, Signals(battery=0.1, **UP), E, Reason.BATTERY_LOW),
    (Mode.ADAPTIVE, Signals(edge_ms=1, cloud_ms=20, **UP), E, Reason.EDGE_FASTER),
]


@pytest.mark.parametrize(("mode", "signals", "where", "reason"), MODES)
def test_modes(mode: Mode, signals: Signals, where: Where, reason: Reason) -> None:
    assert decide(mode, signals, T) == (decision := decide(mode, signals, T))
    assert (decision.where, decision.reason) == (where, reason)


# docs/offload.md: the full model when device load < 0.5 and priority is high
@pytest.mark.parametrize(
    ("load", "high", "expected"),
    [(0.3, True, True), (0.49, True, True), (0.5, True, False), (0.3, False, False)],
)
def test_full_model(load: float, high: bool, expected: bool) -> None:
    assert want_full_model(load, high, T) is expected


# docs/offload.md: 0.4·CPU + 0.3·memory + 0.3·(RTT/100 ms)
@pytest.mark.parametrize(
    ("cpu", "mem", "rtt", "score"),
    [(0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 100.0, 1.0), (0.7, 0.65, 50.0, 0.625)],
)
def test_load_score(cpu: float, mem: float, rtt: float, score: float) -> None:
    assert load_score(Signals(cpu=cpu, mem=mem, rtt_ms=rtt)) == pytest.approx(score)


def test_pure() -> None:
    s = Signals(cpu=0.9, edge_ms=10, cloud_ms=11, **UP)
    assert adaptive(s, T) == adaptive(s, T)
