"""The per-device health state machine, as pure functions over a small runtime record.

The states (`contract.health.DeviceState`) and the CPU/memory bands are the contract's:

online    -- heartbeats arrive on time and every figure is inside its band
degraded  -- heartbeat late, CPU or memory over threshold, a model error within the window,
             or the error rate between two heartbeats over threshold
offline   -- the device said so: Last Will or clean disconnect (`status` = offline)
lost      -- no heartbeat for K intervals; needed because amqtt never fires the Will of a
             half-open client, so presence cannot rely on the broker alone
"""

from dataclasses import dataclass, field
from typing import Any

from contract.health import CPU_HEALTHY_MAX, MEM_HEALTHY_MAX, DeviceState

State = DeviceState  # the short name the hub uses


@dataclass(frozen=True)
class Thresholds:
    interval_s: float = 10.0
    late_factor: float = 1.5
    lost_after: int = 3
    cpu: float = CPU_HEALTHY_MAX
    mem: float = MEM_HEALTHY_MAX
    error_rate: float = 0.2
    model_error_window_s: float = 60.0


@dataclass
class Runtime:
    """What the hub remembers about one device between messages (wall-clock seconds)."""

    state: State = State.OFFLINE
    reason: str | None = "never connected"
    since: float = 0.0
    last_heartbeat: float | None = None
    last_seen: float | None = None
    last_health: dict[str, Any] | None = None
    last_health_ts: float = 0.0  # device time of `last_health`: older heartbeats are history
    counters: dict[str, int] = field(default_factory=dict)
    last_model_error: float | None = None
    error_rate: float = 0.0


@dataclass(frozen=True)
class Transition:
    state: State
    reason: str | None


def errors_in(counters: dict[str, int]) -> int:
    """Failed requests in a counter set: `errors`, else the sum of `errors.*`/`errors_*`."""
    if "errors" in counters:
        return counters["errors"]
    return sum(v for k, v in counters.items() if k.startswith(("errors.", "errors_")))


def error_rate(previous: dict[str, int], current: dict[str, int]) -> float:
    """Errors per request between two heartbeats; 0 after a counter reset or without data."""
    requests = current.get("requests", 0) - previous.get("requests", 0)
    errors = errors_in(current) - errors_in(previous)
    if requests <= 0 or errors < 0:
        return 0.0
    return min(1.0, errors / requests)


def _degraded_reasons(health: dict[str, Any], rt: Runtime, now: float, th: Thresholds) -> list[str]:
    reasons = []
    if health["cpu"] > th.cpu:
        reasons.append(f"cpu {health['cpu']:.0%} > {th.cpu:.0%}")
    if health["mem"] > th.mem:
        reasons.append(f"memory {health['mem']:.0%} > {th.mem:.0%}")
    if rt.error_rate > th.error_rate:
        reasons.append(f"error rate {rt.error_rate:.0%} > {th.error_rate:.0%}")
    if rt.last_model_error is not None and now - rt.last_model_error < th.model_error_window_s:
        reasons.append("model errors")
    return reasons


def on_health(rt: Runtime, health: dict[str, Any], now: float, th: Thresholds) -> Transition:
    """A heartbeat arrived: the device is alive; online unless a figure is out of band."""
    counters = health.get("counters") or {}
    rt.error_rate = error_rate(rt.counters, counters) if rt.counters else 0.0
    rt.counters = dict(counters)
    rt.last_heartbeat = now
    reasons = _degraded_reasons(health, rt, now, th)
    return (
        Transition(State.DEGRADED, "; ".join(reasons))
        if reasons
        else Transition(State.ONLINE, None)
    )


def on_status(rt: Runtime, online: bool, now: float) -> Transition:
    """Birth (`online`) or Last Will / clean disconnect (`offline`)."""
    if not online:
        return Transition(State.OFFLINE, "last will or clean disconnect")
    rt.last_heartbeat = now  # the lost timer starts at connect
    if rt.state is State.DEGRADED:
        return Transition(rt.state, rt.reason)
    return Transition(State.ONLINE, "connected")


def on_model_error(rt: Runtime, now: float) -> Transition | None:
    rt.last_model_error = now
    if rt.state in (State.ONLINE, State.DEGRADED):
        return Transition(State.DEGRADED, "model errors")
    return None


def on_tick(rt: Runtime, now: float, th: Thresholds) -> Transition | None:
    """Time passed without a message: late heartbeats degrade, K missed intervals lose."""
    if rt.state not in (State.ONLINE, State.DEGRADED) or rt.last_heartbeat is None:
        return None
    silent = now - rt.last_heartbeat
    if silent >= th.lost_after * th.interval_s:
        return Transition(State.LOST, f"no heartbeat for {silent:.0f} s")
    if silent > th.late_factor * th.interval_s and rt.state is State.ONLINE:
        return Transition(State.DEGRADED, f"heartbeat late ({silent:.1f} s)")
    return None


def apply(rt: Runtime, tr: Transition | None, now: float) -> bool:
    """Store a transition in the runtime; True when the state or its reason changed."""
    if tr is None or (tr.state is rt.state and tr.reason == rt.reason):
        return False
    if tr.state is not rt.state:
        rt.since = now
    rt.state, rt.reason = tr.state, tr.reason
    return True
