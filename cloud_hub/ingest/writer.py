"""The SQL writer: one thread that drains the bridge's queue in batches.

It is the only writer of telemetry and presence columns, which keeps SQLite free of write
contention with itself, and it owns the health state machine's runtime records (loaded from
SQL at start, so states survive restarts). Besides batches it runs the presence sweep (late /
lost heartbeats) and maintenance (roll-ups, retention) on their own clocks.

This module is the thread, its queue and its clocks; a batch is decoded in each device's
order (decode.py), applied to device runtimes (runtime.py) and written in one transaction
(store.py).
"""

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from cloud_hub.core.config import Settings
from cloud_hub.core.db import Database
from cloud_hub.core.metrics import HubMetrics
from cloud_hub.ingest import rows as r
from cloud_hub.ingest.decode import Decoder
from cloud_hub.ingest.inbound import Inbound
from cloud_hub.ingest.order import DeviceOrder
from cloud_hub.ingest.runtime import Applier, Runtimes, thresholds
from cloud_hub.ingest.store import Store
from contract import Topics

log = logging.getLogger(__name__)


class IngestWriter:
    def __init__(self, db: Database, settings: Settings, metrics: HubMetrics) -> None:
        self.db, self.settings, self.metrics = db, settings, metrics
        self.topics = Topics(settings.topic_prefix)
        self.th = thresholds(settings)
        self._queue: queue.Queue[Inbound | None] = queue.Queue(settings.ingest_queue_max)
        # per-device order, except when a shared subscription splits a device's stream over
        # several replicas (each would wait for what another one got; docs/offload.md)
        self._order: DeviceOrder[Inbound] | None = (
            None if settings.mqtt_shared_group else DeviceOrder()
        )
        self._runtimes = Runtimes(db)
        self._applier = Applier(self.topics, self.th, metrics, self._order)
        self._decoder = Decoder(self.topics, metrics, self._runtimes, self._applier, self._order)
        # dashboard live stream (api/routes/live.py): called with each committed batch
        self.listeners: list[Callable[[r.Batch], None]] = []
        self._store = Store(db, settings, self._runtimes, self.listeners)
        self._thread = threading.Thread(target=self._run, name="hub-sql-writer", daemon=True)
        self._processed = 0
        self._progress = threading.Condition()
        self._sweep_every = min(1.0, self.th.interval_s / 4)
        self.alive = False
        # ingesting (the leader replica): presence sweeps and maintenance run only then; a
        # standby's runtimes are stale, and become current by a reload when it takes over
        self.active = True
        self._reload = threading.Event()

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

    def activate(self, on: bool) -> None:
        """This replica starts (or stops) ingesting: on start the runtimes are read from SQL
        again (another replica kept them current meanwhile) and every device's order starts
        over from the oldest message it holds."""
        if on and not self.active:
            self._reload.set()
        self.active = on

    def forget(self, device_id: str) -> None:
        self._runtimes.forget(device_id)

    def known(self, device_id: str) -> None:
        """A device was just created: stop treating its messages as unknown."""
        self._runtimes.known(device_id)

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
            self._runtimes.load(s)
            self._store.load(s)

    def _run(self) -> None:
        next_sweep = time.monotonic() + self._sweep_every
        next_maintenance = time.monotonic() + self.settings.maintenance_interval_s
        while True:
            if self._reload.is_set():
                self._reload.clear()
                self._reload_safely()
                if self._order is not None:
                    self._order.forget()
            batch, stop = self._collect(timeout=max(0.0, next_sweep - time.monotonic()))
            if batch:
                self._guard(self.write_batch, batch)
            now = time.monotonic()
            if now >= next_sweep:
                if self.active:
                    self._guard(self.sweep, time.time())
                next_sweep = now + self._sweep_every
            if now >= next_maintenance:
                if self.active:
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

    # ---- the steps -----------------------------------------------------------------------
    def write_batch(self, messages: list[Inbound]) -> None:
        started = time.perf_counter()
        batch = r.Batch()
        self._decoder.fill(batch, messages)
        self._store.flush(batch)
        if self._order is not None:
            self.metrics.held.set(self._order.held())
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_size.observe(len(messages))
        self._finish(len(messages))

    def sweep(self, now: float) -> None:
        """Presence sweep: late heartbeats degrade a device, K missed intervals lose it."""
        batch = r.Batch()
        self._applier.tick(self._runtimes.items(), now, batch)
        if batch.touched:
            self._store.flush(batch)

    def maintain(self, now: float) -> None:
        """Roll up dirty minutes, then delete what is past its retention."""
        self._store.maintain(now)
