"""The SQL writer on a real database: batches, idempotency, bad messages, presence, retention.

The writer's methods are driven directly from the test (no thread, no broker) so that time
is an argument and every assertion is deterministic; `test_bridge.py` covers the MQTT path.
"""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cloud_hub.core import security
from cloud_hub.core.clock import utcnow
from cloud_hub.core.config import Settings
from cloud_hub.core.db import Database, make_engine
from cloud_hub.core.metrics import HubMetrics
from cloud_hub.crud.devices import create_device
from cloud_hub.db import tables as t
from cloud_hub.ingest.inbound import Inbound
from cloud_hub.ingest.writer import IngestWriter
from cloud_hub.schemas.devices import DeviceCreate
from contract import Delivery, Health, InferResult, Status, Topics, encode, stamp

T = Topics()


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(make_engine(settings))
    with database.session(write=True) as s:
        for d in ("dev-a", "dev-b"):
            create_device(
                s, data=DeviceCreate(id=d), secret_hash=security.digest("x"), now=utcnow()
            )
    yield database
    database.dispose()


@pytest.fixture
def writer(db: Database, make_settings: Any) -> IngestWriter:
    w = IngestWriter(
        db, make_settings(heartbeat_interval_s=10, lost_after_intervals=3), HubMetrics()
    )
    w.load()
    return w


def health(seq: int, *, cpu: float = 0.1, ts: datetime | None = None, **kw: Any) -> bytes:
    return encode(
        Health(
            cpu=cpu,
            mem=0.2,
            queue_depth=0,
            uptime_s=seq,
            seq=seq,
            ts=ts or datetime(2025, 1, 1, 12, 0, seq % 60, tzinfo=UTC),
            **kw,
        )
    )


def msg(topic: str, payload: bytes, at: float = 1000.0) -> Inbound:
    return Inbound(topic, payload, at)


def count(db: Database, table: Any, **where: Any) -> int:
    with db.session(write=False) as s:
        q = select(func.count()).select_from(table)
        for k, v in where.items():
            q = q.where(getattr(table, k) == v)
        return int(s.scalar(q) or 0)


def device(db: Database, device_id: str) -> t.Device:
    with db.session(write=False) as s:
        row = s.get(t.Device, device_id)
        assert row is not None
        return row


def test_health_batch_is_written_once_even_when_redelivered(
    db: Database, writer: IngestWriter
) -> None:
    batch = [msg(T.health("dev-a"), health(i)) for i in range(50)]
    writer.write_batch(batch)
    writer.write_batch(batch[:10])  # QoS 1 redelivery
    assert count(db, t.HealthSample, device_id="dev-a") == 50
    row = device(db, "dev-a")
    assert row.state == "online"
    assert row.last_health is not None
    assert row.last_health["seq"] == 49
    assert row.last_seen is not None


def test_results_events_errors_are_idempotent_on_message_id(
    db: Database, writer: IngestWriter
) -> None:
    result = InferResult(
        model="face-detect-lite",
        model_version="1",
        where="edge",
        latency_ms=3.0,
        output={"faces": []},
        msg_id="m-1",
        rid="r1",
    )
    event = {
        "kind": "face",
        "model": "face-detect-lite",
        "msg_id": "e-1",
        "data": {"n": 1},
        "ts": "2025-01-01T00:00:00Z",
    }
    error = {
        "topic": "x",
        "code": "bad_image",
        "error": "not an image",
        "ts": "2025-01-01T00:00:00Z",
    }
    batch = [
        msg(T.result("dev-a", "face-detect-lite", "r1"), encode(result)),
        msg(T.event("dev-a", "face"), json.dumps(event).encode()),
        msg(T.error("dev-a"), json.dumps(error).encode()),
    ]
    writer.write_batch(batch + batch)
    writer.write_batch(batch)
    assert count(db, t.Result) == 1
    assert count(db, t.EventRow) == 1
    assert count(db, t.DeviceError) == 1


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (T.health("dev-a"), b"{not json", "invalid_payload"),
        (T.health("dev-a"), b'{"cpu": "high"}', "invalid_payload"),
        (T.health("dev-a"), b"[1, 2]", "invalid_payload"),
        (T.health("dev-a"), b"\xff\xfe", "invalid_payload"),
        (T.health("ghost"), health(1), "unknown_device"),
        ("edgefleet/v1/dev-a/nonsense", b"{}", "bad_topic"),
        (T.status("dev-a"), b'{"state": "sleeping", "agent_version": "1"}', "invalid_payload"),
    ],
)
def test_bad_messages_are_counted_and_never_written(
    db: Database, writer: IngestWriter, topic: str, payload: bytes, reason: str
) -> None:
    writer.write_batch([msg(topic, payload), msg(T.health("dev-b"), health(1))])
    assert count(db, t.HealthSample) == 1  # the good message in the same batch survives
    samples = writer.metrics.rejected.collect()[0].samples
    assert any(s.labels["reason"] == reason and s.value == 1 for s in samples), samples
    assert device(db, "dev-a").state == "offline"


def test_presence_online_degraded_offline_lost(db: Database, writer: IngestWriter) -> None:
    status = encode(Status(state="online", agent_version="0.2.0", models=["face-detect-lite"]))
    writer.write_batch([msg(T.status("dev-a"), status, at=1000)])
    row = device(db, "dev-a")
    assert (row.state, row.agent_version) == ("online", "0.2.0")
    with db.session(write=False) as s:
        assert s.scalars(select(t.DeviceCapability.model)).all() == ["face-detect-lite"]

    writer.write_batch([msg(T.health("dev-a"), health(1, cpu=0.95), at=1005)])
    assert device(db, "dev-a").state == "degraded"
    writer.write_batch([msg(T.health("dev-a"), health(2), at=1010)])
    assert device(db, "dev-a").state == "online"

    writer.sweep(1010 + 16)  # later than 1.5 intervals
    assert device(db, "dev-a").state_reason.startswith("heartbeat late")  # type: ignore[union-attr]
    writer.sweep(1010 + 30)  # K = 3 intervals without a heartbeat: lost (no Will needed)
    assert device(db, "dev-a").state == "lost"

    writer.write_batch([msg(T.health("dev-a"), health(3), at=1100)])
    assert device(db, "dev-a").state == "online"
    offline = encode(Status(state="offline", agent_version="0.2.0"))
    writer.write_batch([msg(T.status("dev-a"), offline, at=1101)])
    assert device(db, "dev-a").state == "offline"
    writer.sweep(5000)
    assert device(db, "dev-a").state == "offline"

    with db.session(write=False) as s:
        changes = s.scalars(
            select(t.DeviceStateChange.to_state)
            .where(t.DeviceStateChange.device_id == "dev-a")
            .order_by(t.DeviceStateChange.id)
        ).all()
    assert changes == ["online", "degraded", "online", "degraded", "lost", "online", "offline"]


def test_state_survives_a_writer_restart(
    db: Database, writer: IngestWriter, make_settings: Any
) -> None:
    writer.write_batch([msg(T.health("dev-a"), health(1), at=1000)])
    again = IngestWriter(db, make_settings(heartbeat_interval_s=10), HubMetrics())
    again.load()
    again.sweep(1000 + 31)
    assert device(db, "dev-a").state == "lost"


def test_rollups_and_retention(db: Database, writer: IngestWriter) -> None:
    base = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    batch = [
        msg(T.health("dev-a"), health(i, cpu=0.1 * (i % 3), ts=base + timedelta(seconds=10 * i)))
        for i in range(12)
    ]  # two minutes, six samples each
    writer.write_batch(batch)
    writer.maintain(base.timestamp() + 120)
    with db.session(write=False) as s:
        rollups = s.scalars(select(t.HealthRollup).order_by(t.HealthRollup.minute)).all()
        assert [r.n for r in rollups] == [6, 6]
        assert rollups[0].cpu_max == pytest.approx(0.2)
    # a day and more later the raw samples go, the per-minute roll-ups stay
    writer.maintain(base.timestamp() + 2 * 24 * 3600)
    assert count(db, t.HealthSample) == 0
    assert count(db, t.HealthRollup) == 2
    writer.maintain(base.timestamp() + 40 * 24 * 3600)
    assert count(db, t.HealthRollup) == 0


def test_writer_thread_drains_the_queue(writer: IngestWriter, db: Database) -> None:
    writer.start()
    try:
        for i in range(300):
            assert writer.offer(msg(T.health("dev-b"), health(i), at=time.time()))
        assert writer.wait_processed(300, timeout=10)
    finally:
        writer.stop()
    assert count(db, t.HealthSample, device_id="dev-b") == 300


# ---- per-device order: the hub accepts each device's outbox stream in sequence only -------


def stamped(rid: str, seq: int, since: int = 1, epoch: str = "e1") -> Inbound:
    result = InferResult(
        model="face-detect-lite",
        model_version="1",
        where="edge",
        latency_ms=1.0,
        output={"faces": []},
        msg_id=f"m-{rid}",
        rid=rid,
    )
    payload = stamp(encode(result), Delivery(epoch=epoch, seq=seq, since=since))
    return msg(T.result("dev-a", "face-detect-lite", rid), payload)


def stored_rids(db: Database) -> list[str | None]:
    with db.session(write=False) as s:
        return list(
            s.scalars(
                select(t.Result.rid).where(t.Result.device_id == "dev-a").order_by(t.Result.id)
            )
        )


def acked(writer: IngestWriter) -> list[list[str]]:
    got: list[list[str]] = []
    writer.listeners.append(lambda batch: got.append(batch.acks.get("dev-a", [])))
    return got


def rejected(writer: IngestWriter, reason: str) -> float:
    samples = writer.metrics.rejected.collect()[0].samples
    return sum(
        s.value for s in samples if s.labels.get("reason") == reason and s.name.endswith("_total")
    )


def test_a_message_ahead_of_its_turn_is_held_until_the_gap_fills(
    db: Database, writer: IngestWriter
) -> None:
    """What a broker does with more than its in-flight limit queued: 3 arrives before 2. The
    hub holds 3 back (no ack) and stores it right after 2: the table holds 1, 2, 3."""
    acks = acked(writer)
    writer.write_batch([stamped("r1", 1)])
    writer.write_batch([stamped("r3", 3)])
    writer.write_batch([stamped("r2", 2)])
    assert stored_rids(db) == ["r1", "r2", "r3"]
    assert acks == [["m-r1"], [], ["m-r2", "m-r3"]]
    assert rejected(writer, "out_of_order") == 1


def test_a_lost_message_comes_back_with_the_resend(db: Database, writer: IngestWriter) -> None:
    """What amqtt does to a message for an absent hub: 2 never arrives. The device's go-back-N
    resend brings 2 and 3 again; each is stored once, in order, and acknowledged."""
    acks = acked(writer)
    writer.write_batch([stamped("r1", 1), stamped("r3", 3)])
    writer.write_batch([stamped("r2", 2), stamped("r3", 3)])  # the resend, in order
    writer.write_batch([stamped("r1", 1)])  # a late duplicate: stored once, acked again
    assert stored_rids(db) == ["r1", "r2", "r3"]
    assert acks == [["m-r1"], ["m-r2", "m-r3", "m-r3"], ["m-r1"]]


def test_since_skips_what_the_device_dropped_and_a_new_epoch_starts_over(
    db: Database, writer: IngestWriter
) -> None:
    """`since` moves the expected seq past messages a full outbox dropped; a new outbox store
    (epoch) restarts at its own oldest, so neither can hold the stream up for good."""
    acks = acked(writer)
    writer.write_batch([stamped("r1", 1), stamped("r5", 5, since=5)])  # 2-4 dropped
    writer.write_batch([stamped("r7", 7, since=6)])  # 6 still due: refused
    writer.write_batch([stamped("x3", 3, since=3, epoch="e2")])  # a new store, seqs anew
    assert stored_rids(db) == ["r1", "r5", "x3"]
    assert acks == [["m-r1", "m-r5"], [], ["m-x3"]]


def test_an_invalid_outbox_message_is_acknowledged_in_its_turn(
    db: Database, writer: IngestWriter
) -> None:
    """Re-sending cannot fix a refused payload, so the hub acknowledges it (and counts it
    invalid) instead of holding every later message of the device behind it."""
    acks = acked(writer)
    bad = json.dumps(
        {
            "model": "face-detect-lite",
            "msg_id": "m-bad",
            "latency_ms": -1,
            "delivery": {"epoch": "e1", "seq": 1, "since": 1},
        }
    ).encode()
    writer.write_batch([msg(T.result("dev-a", "face-detect-lite"), bad), stamped("r2", 2)])
    assert stored_rids(db) == ["r2"]
    assert acks == [["m-bad", "m-r2"]]
    assert rejected(writer, "invalid_payload") == 1


def test_with_a_shared_subscription_the_stream_is_stored_as_it_comes(
    db: Database, make_settings: Any
) -> None:
    """Replicas sharing a subscription each see part of a device's stream; none may wait for
    a seq another one got, so order is not enforced there (docs/offload.md)."""
    writer = IngestWriter(db, make_settings(mqtt_shared_group="hubs"), HubMetrics())
    writer.load()
    writer.write_batch([stamped("r1", 1), stamped("r3", 3)])
    assert stored_rids(db) == ["r1", "r3"]
