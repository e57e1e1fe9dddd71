"""Device runtimes: the health state machine's records, and how each message moves them.

The writer thread owns the records, loaded from SQL at start so that states survive restarts;
API threads only drop one (`forget`) or lift a device's unknown mark (`known`). Applying a
message collects its rows into the batch and feeds the state machine; the transitions it
causes become `device_state_changes` rows and /metrics counts.
"""

import threading
from collections.abc import Iterable
from contextlib import suppress
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_hub.core.config import Settings
from cloud_hub.core.db import Database
from cloud_hub.core.metrics import HubMetrics
from cloud_hub.db import tables as t
from cloud_hub.health import state as hs
from cloud_hub.ingest import commands as cmds
from cloud_hub.ingest import rows as r
from cloud_hub.ingest.inbound import Inbound
from cloud_hub.ingest.order import DeviceOrder, in_turn
from contract import (
    Command,
    CommandReply,
    ErrorCode,
    ErrorMessage,
    Event,
    Health,
    InferResult,
    Kind,
    Status,
    Topics,
    TwinReported,
    decode,
)
from contract.health import DeviceState

# an id found in no `devices` row is not looked up again for so long (else: a SELECT for every
# message of a device that was deleted or never enrolled)
UNKNOWN_TTL_S = 5.0

RUNTIME_COLUMNS = (
    t.Device.id,
    t.Device.state,
    t.Device.state_reason,
    t.Device.state_since,
    t.Device.last_heartbeat_at,
    t.Device.last_seen,
    t.Device.last_health,
)


def thresholds(settings: Settings) -> hs.Thresholds:
    return hs.Thresholds(
        interval_s=settings.heartbeat_interval_s,
        late_factor=settings.heartbeat_late_factor,
        lost_after=settings.lost_after_intervals,
        cpu=settings.cpu_degraded,
        mem=settings.mem_degraded,
        error_rate=settings.error_rate_degraded,
        model_error_window_s=settings.model_error_window_s,
    )


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def runtime_of(
    state: str,
    reason: str | None,
    since: datetime,
    heartbeat: datetime | None,
    seen: datetime | None,
    health: dict[str, Any] | None,
) -> hs.Runtime:
    """A runtime from its `devices` columns (`RUNTIME_COLUMNS` after the id)."""
    health_ts = 0.0
    if health and isinstance(health.get("ts"), str):
        with suppress(ValueError):
            health_ts = datetime.fromisoformat(health["ts"].replace("Z", "+00:00")).timestamp()
    return hs.Runtime(
        state=hs.State(state),
        reason=reason,
        since=since.timestamp(),
        last_heartbeat=_ts(heartbeat),
        last_seen=_ts(seen),
        last_health=health,
        last_health_ts=health_ts,
    )


def device_row(device: str, rt: hs.Runtime) -> dict[str, Any]:
    """The runtime back into its `devices` columns (keyed by `_id`: `sql.update_devices`)."""
    return {
        "_id": device,
        "state": rt.state.value,
        "state_reason": rt.reason,
        "state_since": r.dt(rt.since),
        "last_seen": r.dt(rt.last_seen),
        "last_heartbeat_at": r.dt(rt.last_heartbeat),
        "last_health": rt.last_health,
    }


class Runtimes:
    """Each known device's runtime, by id."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._devices: dict[str, hs.Runtime] = {}
        self._unknown: dict[str, float] = {}
        self._lock = threading.Lock()  # guards _devices against forget()/refresh() callers

    def load(self, s: Session) -> None:
        devices = {row[0]: runtime_of(*row[1:]) for row in s.execute(select(*RUNTIME_COLUMNS))}
        with self._lock:
            self._devices = devices

    def get(self, device: str, now: float) -> hs.Runtime | None:
        """The device's runtime, read from SQL on first sight; None for an unknown device."""
        rt = self._devices.get(device)
        if rt is not None:
            return rt
        if now - self._unknown.get(device, -UNKNOWN_TTL_S) < UNKNOWN_TTL_S:
            return None
        with self.db.session(write=False) as s:
            row = s.execute(select(*RUNTIME_COLUMNS).where(t.Device.id == device)).first()
        if row is None:
            self._unknown[device] = now
            return None
        rt = runtime_of(*row[1:])
        with self._lock:
            self._devices[device] = rt
        return rt

    def forget(self, device_id: str) -> None:
        with self._lock:
            self._devices.pop(device_id, None)

    def known(self, device_id: str) -> None:
        """A device was just created: stop treating its messages as unknown."""
        self._unknown.pop(device_id, None)

    def __contains__(self, device: str) -> bool:
        return device in self._devices

    def items(self) -> list[tuple[str, hs.Runtime]]:
        with self._lock:
            return list(self._devices.items())

    def rows(self, devices: Iterable[str]) -> list[dict[str, Any]]:
        """`device_row` of each of `devices` still known, in id order."""
        with self._lock:
            return [device_row(d, self._devices[d]) for d in sorted(devices) if d in self._devices]


class Applier:
    """Applies one decoded message to its device's runtime and the batch (writer thread)."""

    def __init__(
        self,
        topics: Topics,
        th: hs.Thresholds,
        metrics: HubMetrics,
        order: DeviceOrder[Inbound] | None,
    ) -> None:
        self.topics, self.th, self.metrics, self.order = topics, th, metrics, order

    def apply(self, kind: Kind, device: str, rt: hs.Runtime, m: Inbound, batch: r.Batch) -> None:
        """Raises `ContractError` (invalid payload) or `OutOfTurn` (ahead of its turn)."""
        now = m.received
        if kind is Kind.HEALTH:
            h = decode(Health, m.payload)
            in_turn(self.order, device, h.delivery)
            batch.ack(device, h.msg_id)
            batch.health.append(r.health_row(device, h))
            batch.minutes.add(batch.health[-1]["minute"])
            if h.ts.timestamp() > rt.last_health_ts:  # a redelivery or backlog is history only
                self._offload_metrics(h, rt.last_health)
                summary = r.health_summary(h)
                self.transition(device, rt, hs.on_health(rt, summary, now, self.th), now, batch)
                rt.last_health, rt.last_health_ts = summary, h.ts.timestamp()
        elif kind is Kind.STATUS:
            st = decode(Status, m.payload)
            batch.versions[device] = st.agent_version
            if st.state is DeviceState.ONLINE:
                batch.capabilities[device] = list(st.models)
            self.transition(
                device, rt, hs.on_status(rt, st.state is DeviceState.ONLINE, now), now, batch
            )
        elif kind is Kind.RESULT:
            res = decode(InferResult, m.payload)
            in_turn(self.order, device, res.delivery)
            batch.results.append(r.result_row(device, res))
            batch.ack(device, res.msg_id)
        elif kind is Kind.EVENT:
            ev = decode(Event, m.payload)
            in_turn(self.order, device, ev.delivery)
            batch.events.append(r.event_row(device, ev))
            batch.ack(device, ev.msg_id)
        elif kind is Kind.ERROR:
            err = decode(ErrorMessage, m.payload)
            batch.errors.append(r.error_row(device, err))
            if err.code is ErrorCode.INTERNAL:
                self.transition(device, rt, hs.on_model_error(rt, now), now, batch)
        elif kind is Kind.TWIN_REPORTED:
            batch.twins[device] = decode(TwinReported, m.payload)
        elif kind is Kind.CMD_REPLY:
            name = self.topics.parse(m.topic).name or ""
            cmds.add_reply(batch.commands, device, name, decode(CommandReply, m.payload), now)
        elif kind is Kind.CMD:  # the hub's own command: the device was not seen
            name = self.topics.parse(m.topic).name or ""
            cmds.add_sent(batch.commands, device, name, decode(Command, m.payload), now)
            return
        if rt.last_seen is None or now > rt.last_seen:
            rt.last_seen = now
        batch.touched.add(device)

    def tick(self, runtimes: Iterable[tuple[str, hs.Runtime]], now: float, batch: r.Batch) -> None:
        """Presence: late heartbeats degrade a device, K missed intervals lose it."""
        for device, rt in runtimes:
            self.transition(device, rt, hs.on_tick(rt, now, self.th), now, batch)

    def transition(
        self, device: str, rt: hs.Runtime, tr: hs.Transition | None, now: float, batch: r.Batch
    ) -> None:
        old = rt.state
        if hs.apply(rt, tr, now):
            batch.touched.add(device)
            if rt.state is not old:
                batch.state_changes.append(
                    {
                        "device_id": device,
                        "ts": r.dt(now),
                        "from_state": old,
                        "to_state": rt.state,
                        "reason": rt.reason,
                    }
                )
                self.metrics.transitions.labels(rt.state).inc()

    def _offload_metrics(self, h: Health, previous: dict[str, Any] | None) -> None:
        """What the agent's `offload.{where}.{reason}` counters grew by since its `previous`
        heartbeat -> the fleet-wide counter on /metrics (no device label: docs/hub.md). A
        device never heard from, or whose agent restarted (`seq` back), counts from zero."""
        before: dict[str, Any] = {}
        if previous is not None and h.seq > int(previous.get("seq", -1)):
            before = previous.get("counters") or {}
        for name, value in h.counters.items():
            parts = name.split(".")
            if len(parts) != 3 or parts[0] != "offload":
                continue
            last = before.get(name, 0)
            grown = value - last if isinstance(last, int) and value >= last else value
            if grown > 0:
                self.metrics.offload_decisions.labels(parts[1], parts[2]).inc(grown)
