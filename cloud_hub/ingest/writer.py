"""The SQL writer: one thread that drains the bridge's queue in batches.

It is the only writer of telemetry and presence columns, which keeps SQLite free of write
contention with itself, and it owns the health state machine's runtime records (loaded from
SQL at start, so states survive restarts). Besides batches it runs the presence sweep (late /
lost heartbeats) and maintenance (roll-ups, retention) on their own clocks.
"""

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from cloud_hub.core.config import Settings
from cloud_hub.core.db import Database
from cloud_hub.core.metrics import HubMetrics
from cloud_hub.db import tables as t
from cloud_hub.health import state as hs
from cloud_hub.ingest import commands as cmds
from cloud_hub.ingest import rows as r
from cloud_hub.ingest import sql
from cloud_hub.ingest.order import DeviceOrder, Verdict
from contract import (
    Command,
    CommandReply,
    ContractError,
    Delivery,
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

log = logging.getLogger(__name__)
INGESTED_KINDS = (Kind.STATUS, Kind.HEALTH, Kind.TWIN_REPORTED, Kind.RESULT, Kind.EVENT, Kind.ERROR)
# besides those: every device's command replies (the bridge), and the hub's own commands as
# it published them (the messenger; the bridge does not subscribe to `cmd`)
STORED_KINDS = (*INGESTED_KINDS, Kind.CMD_REPLY, Kind.CMD)
_UNKNOWN_TTL_S = 5.0


class _OutOfTurn(Exception):
    """A message ahead of its device's next expected seq: held back, not acknowledged."""

    def __init__(self, seq: int) -> None:
        self.seq = seq


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    received: float  # wall-clock seconds at the bridge


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


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


_RUNTIME_COLUMNS = (
    t.Device.id,
    t.Device.state,
    t.Device.state_reason,
    t.Device.state_since,
    t.Device.last_heartbeat_at,
    t.Device.last_seen,
    t.Device.last_health,
)


def _runtime_of(
    state: str,
    reason: str | None,
    since: datetime,
    heartbeat: datetime | None,
    seen: datetime | None,
    health: dict[str, Any] | None,
) -> hs.Runtime:
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


class IngestWriter:
    def __init__(self, db: Database, settings: Settings, metrics: HubMetrics) -> None:
        self.db, self.settings, self.metrics = db, settings, metrics
        self.topics = Topics(settings.topic_prefix)
        self.th = thresholds(settings)
        self._queue: queue.Queue[Inbound | None] = queue.Queue(settings.ingest_queue_max)
        self._devices: dict[str, hs.Runtime] = {}
        self._unknown: dict[str, float] = {}
        # per-device order, except when a shared subscription splits a device's stream over
        # several replicas (each would wait for what another one got; docs/offload.md)
        self._order: DeviceOrder[Inbound] | None = (
            None if settings.mqtt_shared_group else DeviceOrder()
        )
        self._dirty_minutes: set[int] = set()
        self._lock = threading.Lock()  # guards _devices against forget()/refresh() callers
        self._thread = threading.Thread(target=self._run, name="hub-sql-writer", daemon=True)
        self._processed = 0
        self._progress = threading.Condition()
        self._sweep_every = min(1.0, self.th.interval_s / 4)
        self.alive = False
        # dashboard live stream (api/routes/live.py): called with each committed batch
        self.listeners: list[Callable[[r.Batch], None]] = []

    # ---- called from other threads -------------------------------------------------------
    def start(self) -> None:
        self.load()
        self.alive = True
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        self.alive = False

    def offer(self, message: Inbound) -> bool:
        """Queue a message without blocking; False when full (the caller backs off)."""
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            return False
        return True

    def put(self, message: Inbound) -> None:
        """Queue a message, waiting for room (called off the event loop)."""
        self._queue.put(message)

    def forget(self, device_id: str) -> None:
        with self._lock:
            self._devices.pop(device_id, None)

    def known(self, device_id: str) -> None:
        """A device was just created: stop treating its messages as unknown."""
        self._unknown.pop(device_id, None)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def processed(self) -> int:
        return self._processed

    def wait_processed(self, count: int, timeout: float) -> bool:
        """Block until `count` messages have been handled (tests and the benchmark)."""
        with self._progress:
            return self._progress.wait_for(lambda: self._processed >= count, timeout)

    # ---- the writer thread ---------------------------------------------------------------
    def load(self) -> None:
        with self.db.session(write=False) as s:
            rows = s.execute(select(*_RUNTIME_COLUMNS))
            devices = {row[0]: _runtime_of(*row[1:]) for row in rows}
            with self._lock:
                self._devices = devices
            newest = s.scalar(select(func.max(t.HealthRollup.minute)))
            pending = select(t.HealthSample.minute).distinct()
            if newest is not None:
                pending = pending.where(t.HealthSample.minute >= newest)
            self._dirty_minutes = set(s.scalars(pending))

    def _run(self) -> None:
        next_sweep = time.monotonic() + self._sweep_every
        next_maintenance = time.monotonic() + self.settings.maintenance_interval_s
        while True:
            batch, stop = self._collect(timeout=max(0.0, next_sweep - time.monotonic()))
            if batch:
                self._guard(self.write_batch, batch)
            now = time.monotonic()
            if now >= next_sweep:
                self._guard(self.sweep, time.time())
                next_sweep = now + self._sweep_every
            if now >= next_maintenance:
                self._guard(self.maintain, time.time())
                next_maintenance = now + self.settings.maintenance_interval_s
            self.metrics.queue_depth.set(self._queue.qsize())
            if stop:
                return

    def _collect(self, timeout: float) -> tuple[list[Inbound], bool]:
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return [], False
        if first is None:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self.settings.ingest_flush_s
        while len(batch) < self.settings.ingest_batch_max:
            try:
                item = (
                    self._queue.get_nowait()
                    if self._queue.qsize()
                    else self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                )
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _guard(self, fn: Any, arg: Any) -> None:
        try:
            fn(arg)
        except Exception:  # the writer must outlive a bad batch or a database hiccup
            log.exception("ingest writer step %s failed", getattr(fn, "__name__", fn))
            if isinstance(arg, list):
                self.metrics.rejected.labels("batch", "db_error").inc(len(arg))
                self._finish(len(arg))
                if self._order is not None:  # nothing of the batch is stored or acknowledged
                    self._order.forget()
            self._reload_safely()

    def _reload_safely(self) -> None:
        try:
            self.load()
        except Exception:
            log.exception("reloading device runtimes failed")

    def _finish(self, n: int) -> None:
        with self._progress:
            self._processed += n
            self._progress.notify_all()

    # ---- one batch -----------------------------------------------------------------------
    def _runtime(self, device: str, now: float) -> hs.Runtime | None:
        rt = self._devices.get(device)
        if rt is not None:
            return rt
        if now - self._unknown.get(device, -_UNKNOWN_TTL_S) < _UNKNOWN_TTL_S:
            return None
        with self.db.session(write=False) as s:
            row = s.execute(select(*_RUNTIME_COLUMNS).where(t.Device.id == device)).first()
        if row is None:
            self._unknown[device] = now
            return None
        rt = _runtime_of(*row[1:])
        with self._lock:
            self._devices[device] = rt
        return rt

    def write_batch(self, messages: list[Inbound]) -> None:
        started = time.perf_counter()
        batch = r.Batch()
        for m in messages:
            device = self._decode(m, batch)
            while device is not None and (turn := self._release(device)) is not None:
                device = self._decode(turn, batch)  # held back for this turn
        self._flush(batch)
        if self._order is not None:
            self.metrics.held.set(self._order.held())
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_size.observe(len(messages))
        self._finish(len(messages))

    def _reject(self, kind: str, reason: str) -> None:
        self.metrics.rejected.labels(kind, reason).inc()

    def _decode(self, m: Inbound, batch: r.Batch) -> str | None:
        """Ingest one message into `batch`; the device whose stream it moved on (None: it was
        refused or held back)."""
        try:
            parsed = self.topics.parse(m.topic)
        except ContractError:
            self._reject("unknown", "bad_topic")
            return None
        kind, device = parsed.kind, parsed.device
        if kind not in STORED_KINDS:
            self._reject(kind, "not_ingested")
            return None
        rt = self._runtime(device, m.received)
        if rt is None:
            self._reject(kind, "unknown_device")
            return None
        try:
            self._apply(kind, device, rt, m, batch)
        except ContractError as exc:
            log.debug("rejected %s from %s: %s", kind, device, exc)
            self._ack_refused(device, m.payload, batch)
            self._reject(kind, "invalid_payload")
        except _OutOfTurn as ahead:
            assert self._order is not None
            self._order.hold(device, ahead.seq, m)
            self._reject(kind, "out_of_order")
            return None
        else:
            self.metrics.ingested.labels(kind).inc()
        return device

    def _release(self, device: str) -> Inbound | None:
        """The message held back for `device`'s next turn, now that its stream moved on."""
        return None if self._order is None else self._order.release(device)

    def _in_turn(self, device: str, delivery: Delivery | None) -> None:
        """Raise `_OutOfTurn` when `delivery` is ahead of the device's next expected seq."""
        if self._order is not None and self._order.check(device, delivery) is Verdict.GAP:
            assert delivery is not None
            raise _OutOfTurn(delivery.seq)

    def _ack_refused(self, device: str, payload: bytes, batch: r.Batch) -> None:
        """An outbox message refused for good (invalid) is acknowledged all the same, in its
        turn: re-sending cannot fix it, and waiting for it would hold the device's stream."""
        try:
            raw = json.loads(payload)
            msg_id = raw.get("msg_id")
            delivery = Delivery.model_validate(raw["delivery"]) if "delivery" in raw else None
            self._in_turn(device, delivery)
        except (ValueError, AttributeError, _OutOfTurn):
            return
        if isinstance(msg_id, str):
            batch.ack(device, msg_id)

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

    def _transition(
        self, device: str, rt: hs.Runtime, tr: hs.Transition | None, now: float, batch: r.Batch
    ) -> None:
        old = rt.state
        if hs.apply(rt, tr, now):
            batch.touched.add(device)
            if rt.state is not old:
                batch.state_changes.append(
                    {
                        "device_id": device,
                        "ts": _dt(now),
                        "from_state": old,
                        "to_state": rt.state,
                        "reason": rt.reason,
                    }
                )
                self.metrics.transitions.labels(rt.state).inc()

    def _apply(self, kind: Kind, device: str, rt: hs.Runtime, m: Inbound, batch: r.Batch) -> None:
        now = m.received
        if kind is Kind.HEALTH:
            h = decode(Health, m.payload)
            self._in_turn(device, h.delivery)
            batch.ack(device, h.msg_id)
            batch.health.append(r.health_row(device, h))
            batch.minutes.add(batch.health[-1]["minute"])
            if h.ts.timestamp() > rt.last_health_ts:  # a redelivery or backlog is history only
                self._offload_metrics(h, rt.last_health)
                summary = r.health_summary(h)
                self._transition(device, rt, hs.on_health(rt, summary, now, self.th), now, batch)
                rt.last_health, rt.last_health_ts = summary, h.ts.timestamp()
        elif kind is Kind.STATUS:
            st = decode(Status, m.payload)
            batch.versions[device] = st.agent_version
            if st.state == "online":
                batch.capabilities[device] = list(st.models)
            self._transition(device, rt, hs.on_status(rt, st.state == "online", now), now, batch)
        elif kind is Kind.RESULT:
            res = decode(InferResult, m.payload)
            self._in_turn(device, res.delivery)
            batch.results.append(r.result_row(device, res))
            batch.ack(device, res.msg_id)
        elif kind is Kind.EVENT:
            ev = decode(Event, m.payload)
            self._in_turn(device, ev.delivery)
            batch.events.append(r.event_row(device, ev))
            batch.ack(device, ev.msg_id)
        elif kind is Kind.ERROR:
            err = decode(ErrorMessage, m.payload)
            batch.errors.append(r.error_row(device, err))
            if err.code is ErrorCode.INTERNAL:
                self._transition(device, rt, hs.on_model_error(rt, now), now, batch)
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

    # ---- SQL -----------------------------------------------------------------------------
    def _device_row(self, device: str, rt: hs.Runtime) -> dict[str, Any]:
        return {
            "_id": device,
            "state": rt.state.value,
            "state_reason": rt.reason,
            "state_since": _dt(rt.since),
            "last_seen": _dt(rt.last_seen),
            "last_heartbeat_at": _dt(rt.last_heartbeat),
            "last_health": rt.last_health,
        }

    def _flush(self, batch: r.Batch) -> None:
        with self.db.session(write=True) as s:
            sql.bulk_insert_ignore(s, t.HealthSample, batch.health)
            sql.bulk_insert_ignore(s, t.Result, batch.results)
            sql.bulk_insert_ignore(s, t.EventRow, batch.events)
            sql.bulk_insert_ignore(s, t.DeviceError, batch.errors)
            cmds.write(s, batch.commands)
            if batch.state_changes:
                s.execute(insert(t.DeviceStateChange), batch.state_changes)
            self._write_twins(s, batch.twins)
            self._write_status(s, batch)
            with self._lock:
                updates = [
                    self._device_row(d, self._devices[d])
                    for d in sorted(batch.touched)
                    if d in self._devices
                ]
            sql.update_devices(s, updates)
        self._dirty_minutes |= batch.minutes
        for listener in self.listeners:  # dashboard live stream: after the commit
            listener(batch)

    def _write_twins(self, s: Session, twins: dict[str, TwinReported]) -> None:
        if not twins:
            return
        stored = dict(
            s.execute(
                select(t.DeviceTwin.device_id, t.DeviceTwin.version).where(
                    t.DeviceTwin.device_id.in_(twins)
                )
            ).all()
        )
        for device, twin in twins.items():
            if r.newer_twin(stored.get(device), twin.version):
                s.merge(
                    t.DeviceTwin(
                        device_id=device, version=twin.version, state=twin.state, ts=twin.ts
                    )
                )

    def _write_status(self, s: Session, batch: r.Batch) -> None:
        if batch.versions:
            s.connection().execute(
                update(sql.DEVICES)
                .where(sql.DEVICES.c.id == bindparam("_id"))
                .values(agent_version=bindparam("v")),
                [{"_id": d, "v": v} for d, v in batch.versions.items()],
            )
        for device, models in batch.capabilities.items():
            current = set(
                s.scalars(
                    select(t.DeviceCapability.model).where(t.DeviceCapability.device_id == device)
                )
            )
            if current != set(models) and device in self._devices:
                s.execute(delete(t.DeviceCapability).where(t.DeviceCapability.device_id == device))
                s.add_all(
                    t.DeviceCapability(device_id=device, model=m) for m in dict.fromkeys(models)
                )

    def sweep(self, now: float) -> None:
        """Presence sweep: late heartbeats degrade a device, K missed intervals lose it."""
        batch = r.Batch()
        with self._lock:
            items = list(self._devices.items())
        for device, rt in items:
            self._transition(device, rt, hs.on_tick(rt, now, self.th), now, batch)
        if batch.touched:
            self._flush(batch)

    def maintain(self, now: float) -> None:
        """Roll up dirty minutes, then delete what is past its retention."""
        dirty, self._dirty_minutes = self._dirty_minutes, set()
        try:
            with self.db.session(write=True) as s:
                sql.rollup_minutes(s, dirty)
        except Exception:
            self._dirty_minutes |= dirty
            raise
        st = self.settings
        raw_cut = int((now - st.health_raw_retention_s) // 60)
        rollup_cut = int((now - st.health_rollup_retention_s) // 60)
        results_cut = _dt(now - st.results_retention_s)
        with self.db.session(write=True) as s:
            s.execute(delete(t.HealthSample).where(t.HealthSample.minute < raw_cut))
            s.execute(delete(t.HealthRollup).where(t.HealthRollup.minute < rollup_cut))
            s.execute(
                delete(t.DeviceStateChange).where(
                    t.DeviceStateChange.ts < _dt(now - st.health_rollup_retention_s)
                )
            )
            for table in (t.Result, t.EventRow, t.DeviceError, t.CommandRecord):
                s.execute(delete(table).where(table.ts < results_cut))
