"""SQL tables: registry (devices, tokens, keys), presence and telemetry.

Telemetry tables carry no foreign keys on purpose: the bridge writes them in bulk and a
device deleted mid-batch must not fail the whole batch; `crud.devices.delete_device` removes a
device's telemetry itself and retention removes strays.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from cloud_hub.db.types import BigInt, JSONType, UTCDateTime


class Base(DeclarativeBase):
    pass


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    site: Mapped[str | None] = mapped_column(String(200), index=True)
    hardware: Mapped[str | None] = mapped_column(String(200))
    agent_version: Mapped[str | None] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    # service registration (design brief: service_id, address, metadata such as version/weight)
    service_id: Mapped[str | None] = mapped_column(String(200), index=True)
    address: Mapped[str | None] = mapped_column(String(500))
    service_meta: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    secret_hash: Mapped[str] = mapped_column(String(64))
    enrolled_with: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # presence: the health state machine's current state (history in device_state_changes)
    state: Mapped[str] = mapped_column(String(16), index=True, default="offline")
    state_reason: Mapped[str | None] = mapped_column(String(200))
    state_since: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_health: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    tag_rows: Mapped[list["DeviceTag"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="DeviceTag.tag"
    )
    capability_rows: Mapped[list["DeviceCapability"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="DeviceCapability.model"
    )


class DeviceTag(Base):
    """One row per tag so that filtering by tag is an index lookup on both databases."""

    __tablename__ = "device_tags"

    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class DeviceCapability(Base):
    """A model id the device runs."""

    __tablename__ = "device_capabilities"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class EnrollmentToken(Base):
    __tablename__ = "enrollment_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    site: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeviceStateChange(Base):
    __tablename__ = "device_state_changes"
    __table_args__ = (Index("ix_state_changes_device_ts", "device_id", "ts"),)

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))


class HealthSample(Base):
    """Raw heartbeats, kept `health_raw_retention_s`; idempotent on (device, ts, seq)."""

    __tablename__ = "health_samples"
    __table_args__ = (
        UniqueConstraint("device_id", "ts", "seq", name="uq_health_device_ts_seq"),
        Index("ix_health_minute", "minute"),
    )

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    minute: Mapped[int] = mapped_column(Integer)  # epoch minute of ts, for roll-ups
    seq: Mapped[int] = mapped_column(BigInt)
    cpu: Mapped[float] = mapped_column(Float)
    mem: Mapped[float] = mapped_column(Float)
    rtt_ms: Mapped[float | None] = mapped_column(Float)
    queue_depth: Mapped[int] = mapped_column(Integer)
    infer_ms_p50: Mapped[float | None] = mapped_column(Float)
    offload_ratio: Mapped[float] = mapped_column(Float)
    uptime_s: Mapped[float] = mapped_column(Float)


class HealthRollup(Base):
    """Per-device per-minute aggregates of health samples, kept much longer than raw ones."""

    __tablename__ = "health_rollups"
    __table_args__ = (Index("ix_health_rollups_minute", "minute"),)

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    cpu_avg: Mapped[float] = mapped_column(Float)
    cpu_max: Mapped[float] = mapped_column(Float)
    mem_avg: Mapped[float] = mapped_column(Float)
    mem_max: Mapped[float] = mapped_column(Float)
    rtt_ms_avg: Mapped[float | None] = mapped_column(Float)
    queue_depth_max: Mapped[int] = mapped_column(Integer)
    offload_ratio_avg: Mapped[float] = mapped_column(Float)


class Result(Base):
    __tablename__ = "results"
    __table_args__ = (Index("ix_results_device_ts", "device_id", "ts"),)

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    msg_id: Mapped[str] = mapped_column(String(128), unique=True)
    device_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64))
    where: Mapped[str] = mapped_column(String(8))
    latency_ms: Mapped[float] = mapped_column(Float)
    rid: Mapped[str | None] = mapped_column(String(128))
    output: Mapped[dict[str, Any]] = mapped_column(JSONType)
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_device_ts", "device_id", "ts"),)

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    msg_id: Mapped[str] = mapped_column(String(128), unique=True)
    device_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128))
    rid: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DeviceError(Base):
    """Inputs a device rejected; `msg_key` is a digest of device, ts, topic and code."""

    __tablename__ = "device_errors"
    __table_args__ = (Index("ix_device_errors_device_ts", "device_id", "ts"),)

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    msg_key: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(32))
    error: Mapped[str] = mapped_column(Text)
    rid: Mapped[str | None] = mapped_column(String(128))
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DeviceTwin(Base):
    """Last `twin/reported` per device with its version vector."""

    __tablename__ = "device_twins"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[dict[str, int]] = mapped_column(JSONType)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
