"""Health ingest measurement: heartbeats committed to SQL per second.

Through a broker: a publisher process (paho, QoS 0) -> Mosquitto or amqtt -> the hub's MQTT
bridge and SQL writer, rows counted from the first to the last message. Without one: the
writer alone, fed in process, for the SQL capacity."""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edgefleet.bench.hub.config import HubBenchConfig
from edgefleet.bench.hub.seeding import seed
from edgefleet.bench.hub.services import database, hub
from edgefleet.procs.broker import broker_process

WRITER_ONLY = "none (writer only)"
BROKER_QUEUE = 100_000  # Mosquitto's max_queued_messages, room for the heartbeat burst


def _heartbeat(i: int, base: datetime, rtt_ms: float | None = None) -> bytes:
    """Heartbeat number `i` of a run that started at `base`."""
    from contract import Health, encode

    ts = base + timedelta(milliseconds=i)
    health = Health(cpu=0.2, mem=0.3, queue_depth=0, uptime_s=i, seq=i, rtt_ms=rtt_ms, ts=ts)
    return encode(health)  # without None fields: no rtt_ms when not given


def _publish(port: int, devices: list[str], messages: int, ready: Any) -> None:
    """Simulated fleet in its own process: QoS 0 heartbeats, round robin over devices."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from contract import Topics

    topics = Topics()
    base = datetime.now(UTC)
    payloads = [
        (topics.health(devices[i % len(devices)]), _heartbeat(i, base, rtt_ms=12.0))
        for i in range(messages)
    ]
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}", protocol=paho.MQTTv311
    )
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    ready.set()
    for i, (topic, payload) in enumerate(payloads):
        client.publish(topic, payload, qos=0)
        if i % 2000 == 1999:
            time.sleep(0)  # let the network thread flush
    time.sleep(1)
    client.loop_stop()
    client.disconnect()


def _ingest_rate(writer: Any, total: int, timeout: float) -> tuple[float, int]:
    start_count = writer.processed
    while writer.processed == start_count:
        time.sleep(0.001)
    t0, n0 = time.perf_counter(), writer.processed
    deadline = time.monotonic() + timeout
    while writer.processed < start_count + total and time.monotonic() < deadline:
        writer.wait_processed(start_count + total, 0.5)
    elapsed = time.perf_counter() - t0
    done = writer.processed - start_count
    return (done - (n0 - start_count)) / elapsed if elapsed else 0.0, done


def _count_rows(app: Any) -> int:
    from sqlalchemy import func, select

    from cloud_hub.db import tables as t

    with app.state.db.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(t.HealthSample)) or 0)


def _writer_only(url: str, workdir: Path, devices: list[str], messages: int) -> tuple[float, int]:
    """The writer alone: SQL capacity without MQTT; (rate, rows)."""
    from cloud_hub.core.metrics import HubMetrics
    from cloud_hub.ingest.inbound import Inbound
    from cloud_hub.ingest.writer import IngestWriter
    from contract import Topics

    with hub(url, workdir, None) as (app, _):
        writer = IngestWriter(app.state.db, app.state.settings, HubMetrics())
        writer.start()
        topics, base = Topics(), datetime.now(UTC)
        msgs = [
            Inbound(topics.health(devices[i % len(devices)]), _heartbeat(i, base), time.time())
            for i in range(messages)
        ]
        t0 = time.perf_counter()
        for m in msgs:
            writer.put(m)
        writer.wait_processed(messages, 120)
        rate = messages / (time.perf_counter() - t0)
        writer.stop()
        return rate, _count_rows(app)


def _through_broker(
    url: str, workdir: Path, devices: list[str], messages: int, broker_kind: str
) -> tuple[float, int]:
    """Publisher process -> broker -> hub bridge -> SQL; (rate, rows)."""
    with (
        broker_process(
            broker_kind, workdir, max_queued_messages=BROKER_QUEUE, tcp_nodelay=False
        ) as port,
        hub(url, workdir, port) as (app, _),
    ):
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        proc = ctx.Process(target=_publish, args=(port, devices, messages, ready))
        proc.start()
        ready.wait(60)
        rate, _done = _ingest_rate(app.state.writer, messages, timeout=120)
        proc.join(60)
        return rate, _count_rows(app)


def ingest_run(db_kind: str, broker_kind: str | None, cfg: HubBenchConfig) -> dict[str, Any]:
    """One ingest row: `cfg.messages` heartbeats into a freshly seeded database."""
    with tempfile.TemporaryDirectory() as tmp, database(db_kind, Path(tmp)) as url:
        devices = seed(url, cfg.devices)
        if broker_kind is None:
            rate, rows = _writer_only(url, Path(tmp), devices, cfg.messages)
        else:
            rate, rows = _through_broker(url, Path(tmp), devices, cfg.messages, broker_kind)
    return {
        "database": db_kind,
        "broker": broker_kind or WRITER_ONLY,
        "messages": cfg.messages,
        "rows": rows,
        "rate": rate,
    }
