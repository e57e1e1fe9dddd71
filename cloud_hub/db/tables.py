"""SQL tables: registry (devices, tokens, keys), presence and telemetry.

Telemetry tables carry no foreign keys on purpose: the bridge writes them in bulk and a
device deleted mid-batch must not fail the whole batch; `crud.devices.delete_device` removes a
device's telemetry itself and retention removes strays.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from cloud_hub.db.types import BigInt, JSONType, UTCDateTime
from contract.health import DeviceState


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
    state: Mapped[str] = mapped_column(String(16), index=True, default=DeviceState.OFFLINE.value)
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


class DashboardSession(Base):
    """A dashboard sign-in (api/routes/session.py, crud/sessions.py). In SQL so that every hub
    replica sees it and a restart keeps it; only the SHA-256 of the cookie's session id and
    which key it stands for are stored, never the key."""

    __tablename__ = "dashboard_sessions"

    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # the `api_keys` row signed in with; None for the bootstrap admin key (see `admin_proof`)
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    admin_proof: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


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


class CommandRecord(Base):
    """A command the hub sent on `{d}/cmd/{name}` and the device's reply, one row per
    (device, cmd_id). `sent_at` is null for a reply to a command this hub did not record,
    `replied_at` (the device's clock) while no reply came; `ts` is when the hub first wrote
    the row (retention)."""

    __tablename__ = "commands"
    __table_args__ = (
        UniqueConstraint("device_id", "cmd_id", name="uq_commands_device_cmd"),
        Index("ix_commands_device_id", "device_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    cmd_id: Mapped[str] = mapped_column(String(128))
    args: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ok: Mapped[bool | None] = mapped_column(Boolean)
    code: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DeviceTwin(Base):
    """Last `twin/reported` per device with its version vector."""

    __tablename__ = "device_twins"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[dict[str, int]] = mapped_column(JSONType)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    ts: Mapped[datetime] = mapped_column(UTCDateTime())


# --- model registry (cloud_hub/registry, docs/model-registry.md) ---


class ModelVersion(Base):
    """One signed version of a model; `seq` grows per model and devices refuse a lower one."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model", "version", name="uq_model_versions_model_version"),
        UniqueConstraint("model", "seq", name="uq_model_versions_model_seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    format: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))  # the artifact, content-addressed
    size: Mapped[int] = mapped_column(Integer)
    weights_sha256: Mapped[str | None] = mapped_column(String(64))  # flat fp32 parameters
    signature: Mapped[str] = mapped_column(String(128))  # Ed25519 over the manifest, base64
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_by_round: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Deployment(Base):
    """A rollout of one version to all devices running the model, a tag, or a canary share."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    target: Mapped[str] = mapped_column(String(16))  # all | tag | canary
    tag: Mapped[str | None] = mapped_column(String(100))
    canary_percent: Mapped[float | None] = mapped_column(Float)
    devices: Mapped[list[str]] = mapped_column(JSONType, default=list)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # canary thresholds
    state: Mapped[str] = mapped_column(String(16), index=True)  # active|completed|rolled_back
    reason: Mapped[str | None] = mapped_column(Text)
    rollback_version_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeviceModel(Base):
    """What a device reports it runs (or refused) per model."""

    __tablename__ = "device_models"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int | None] = mapped_column(Integer)
    deployment_id: Mapped[int | None] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(16))  # running | refused
    reason: Mapped[str | None] = mapped_column(Text)
    refused_version: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- federated rounds (cloud_hub/federated, docs/federated.md) ---


class FlRound(Base):
    """One round: open -> training -> aggregating -> published | failed."""

    __tablename__ = "fl_rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    base_version_id: Mapped[int | None] = mapped_column(Integer)
    result_version_id: Mapped[int | None] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer, default=0)  # async: aggregations so far
    weights: Mapped[bytes | None] = mapped_column(LargeBinary)  # current global, fp32
    accumulator: Mapped[bytes | None] = mapped_column(LargeBinary)  # secure aggregation sum
    privacy: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    aggregation_ms: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FlParticipant(Base):
    __tablename__ = "fl_participants"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("fl_rounds.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # invited | keyed | uploaded | rejected
    public_key: Mapped[str | None] = mapped_column(String(64))  # secure aggregation (X25519)


class FlUpdate(Base):
    """Every upload, accepted or not, with its reason; `blob` is null when rejected and under
    secure aggregation (only the masked sum is kept, in `fl_rounds.accumulator`)."""

    __tablename__ = "fl_updates"
    __table_args__ = (Index("ix_fl_updates_round_device", "round_id", "device_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(Integer, index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    encoding: Mapped[str | None] = mapped_column(String(8))
    samples: Mapped[int | None] = mapped_column(Integer)
    norm: Mapped[float | None] = mapped_column(Float)
    staleness: Mapped[int | None] = mapped_column(Integer)
    accepted: Mapped[bool] = mapped_column(Boolean)
    aggregated: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Artifact(Base):
    """A model artifact (or a version's fp32 weights), stored once by its sha256. In the
    database, so that a version registered through one hub replica downloads from every one."""

    __tablename__ = "artifacts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AgentReleaseRecord(Base):
    """An agent bundle devices may update to (`contract.manifest.AgentRelease`, signed by the
    hub's key); its bytes are in the artifact store under `sha256`."""

    __tablename__ = "agent_releases"
    __table_args__ = (
        UniqueConstraint("version", "arch", "python", name="uq_agent_releases_target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64))
    arch: Mapped[str] = mapped_column(String(16))
    python: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # the tarball
    size: Mapped[int] = mapped_column(BigInt)
    signature: Mapped[str] = mapped_column(String(128))  # Ed25519 over the release, base64
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HubSecret(Base):
    """A secret every replica must share, made once by whichever replica starts first (the
    registry's Ed25519 signing key). Readable by whoever reads the database: deployments that
    keep keys elsewhere set `registry_key_file` instead."""

    __tablename__ = "hub_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SampleContent(Base):
    """An input a hard sample keeps, stored once by its sha256 (content-addressed). In the
    database rather than on a replica's disk, so that every hub replica serves it."""

    __tablename__ = "sample_contents"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class HardSample(Base):
    """An input a device's cascade sent to the hub, with the device's answer and the hub's
    (docs/hub.md "Hard samples"), and an operator's review once there is one."""

    __tablename__ = "hard_samples"
    __table_args__ = (Index("ix_hard_samples_device_id", "device_id", "id"),)

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128), index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    cloud_model: Mapped[str] = mapped_column(String(128))
    cloud_version: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(ForeignKey("sample_contents.sha256"), index=True)
    edge_output: Mapped[dict[str, Any]] = mapped_column(JSONType)
    cloud_output: Mapped[dict[str, Any]] = mapped_column(JSONType)
    agree: Mapped[bool] = mapped_column(Boolean)
    review: Mapped[str] = mapped_column(String(16), default="unreviewed", index=True)
    label: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
