"""Model versions (signed, content-addressed), deployments and device reports."""

import hashlib
import math
import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_hub.core.errors import Conflict, NotFound
from cloud_hub.db import tables as t
from cloud_hub.registry.canary import Observed
from cloud_hub.registry.signing import SigningKey
from cloud_hub.registry.store import ArtifactStore
from cloud_hub.schemas.registry import (
    DeploymentCreate,
    DeploymentPublic,
    DeviceModelPublic,
    DeviceModelReport,
    VersionPublic,
)
from contract import ModelUpdateArgs
from contract.http import MODEL_ARTIFACT, path
from contract.manifest import ModelManifest


def manifest(row: t.ModelVersion) -> ModelManifest:
    return ModelManifest(
        model=row.model,
        version=row.version,
        seq=row.seq,
        sha256=row.sha256,
        size=row.size,
        format=row.format,
    )


def version_public(s: Session, row: t.ModelVersion) -> VersionPublic:
    parent = s.get(t.ModelVersion, row.parent_id) if row.parent_id else None
    return VersionPublic(
        id=row.id,
        model=row.model,
        version=row.version,
        seq=row.seq,
        parent=parent.version if parent else None,
        format=row.format,
        sha256=row.sha256,
        size=row.size,
        signature=row.signature,
        metrics=row.metrics,
        created_by_round=row.created_by_round,
        note=row.note,
        created_at=row.created_at,
        download_url=artifact_path(row),
    )


def command_args(row: t.ModelVersion, deployment_id: int | None) -> ModelUpdateArgs:
    """What `cmd/model-update` carries: the manifest, its signature and where to download."""
    return ModelUpdateArgs(
        manifest=manifest(row),
        signature=row.signature,
        deployment_id=deployment_id,
        url=artifact_path(row),
    )


def artifact_path(row: t.ModelVersion) -> str:
    """Where a device downloads the version's bytes (device credentials)."""
    return path(MODEL_ARTIFACT, model=row.model, version=row.version)


def latest_version(s: Session, model: str) -> t.ModelVersion | None:
    return s.scalar(
        select(t.ModelVersion)
        .where(t.ModelVersion.model == model)
        .order_by(t.ModelVersion.seq.desc())
        .limit(1)
    )


def get_version(s: Session, *, model: str, version: str) -> t.ModelVersion:
    row = s.scalar(
        select(t.ModelVersion).where(
            t.ModelVersion.model == model, t.ModelVersion.version == version
        )
    )
    if row is None:
        raise NotFound(f"model {model!r} has no version {version!r}", code="unknown_version")
    return row


def list_versions(s: Session, *, model: str) -> list[t.ModelVersion]:
    return list(
        s.scalars(
            select(t.ModelVersion)
            .where(t.ModelVersion.model == model)
            .order_by(t.ModelVersion.seq.desc())
        )
    )


def list_models(s: Session) -> list[str]:
    return list(s.scalars(select(t.ModelVersion.model).distinct().order_by(t.ModelVersion.model)))


def register_version(
    s: Session,
    *,
    store: ArtifactStore,
    key: SigningKey,
    model: str,
    content: bytes,
    fmt: str,
    now: datetime,
    version: str | None = None,
    weights: bytes | None = None,
    parent_id: int | None = None,
    metrics: dict[str, Any] | None = None,
    round_id: int | None = None,
    note: str | None = None,
) -> t.ModelVersion:
    """Store the artifact by content, give it the next `seq`, sign its manifest."""
    seq = (
        s.scalar(select(func.max(t.ModelVersion.seq)).where(t.ModelVersion.model == model)) or 0
    ) + 1
    version = version or f"v{seq}"
    if s.scalar(
        select(t.ModelVersion.id).where(
            t.ModelVersion.model == model, t.ModelVersion.version == version
        )
    ):
        raise Conflict(f"model {model!r} already has version {version!r}", code="version_exists")
    sha = store.put(s, content)
    row = t.ModelVersion(
        model=model,
        version=version,
        seq=seq,
        parent_id=parent_id,
        format=fmt,
        sha256=sha,
        size=len(content),
        weights_sha256=store.put(s, weights) if weights is not None else None,
        signature="",
        metrics=metrics or {},
        created_by_round=round_id,
        note=note,
        created_at=now,
    )
    row.signature = key.sign(manifest(row))
    s.add(row)
    s.flush()
    return row


def target_devices(
    s: Session, *, model: str, target: str, tag: str | None, canary_percent: float | None
) -> list[str]:
    """Devices that run `model` (capability), narrowed by tag or to a canary share chosen by a
    stable hash so the same devices are canaries every time."""
    query = select(t.DeviceCapability.device_id).where(t.DeviceCapability.model == model)
    if target == "tag":
        query = query.join(
            t.DeviceTag, t.DeviceTag.device_id == t.DeviceCapability.device_id
        ).where(t.DeviceTag.tag == tag)
    devices = sorted(s.scalars(query))
    if target == "canary" and devices:
        ranked = sorted(devices, key=lambda d: hashlib.sha256(f"{model}/{d}".encode()).digest())
        devices = sorted(ranked[: max(1, math.ceil(len(ranked) * (canary_percent or 0) / 100))])
    return devices


def create_deployment(
    s: Session,
    *,
    model: str,
    data: DeploymentCreate,
    now: datetime,
    devices: Sequence[str] | None = None,
) -> t.Deployment:
    row = get_version(s, model=model, version=data.version)
    chosen = (
        list(devices)
        if devices is not None
        else target_devices(
            s, model=model, target=data.target, tag=data.tag, canary_percent=data.canary_percent
        )
    )
    dep = t.Deployment(
        model=model,
        version_id=row.id,
        target=data.target,
        tag=data.tag,
        canary_percent=data.canary_percent,
        devices=chosen,
        config=data.model_dump(mode="json"),
        state="active",
        created_at=now,
    )
    s.add(dep)
    s.flush()
    return dep


def deployment_public(s: Session, dep: t.Deployment) -> DeploymentPublic:
    version = s.get(t.ModelVersion, dep.version_id)
    assert version is not None
    rows = list(
        s.scalars(
            select(t.DeviceModel).where(
                t.DeviceModel.model == dep.model, t.DeviceModel.device_id.in_(dep.devices)
            )
        )
    )
    rollback = s.get(t.ModelVersion, dep.rollback_version_id) if dep.rollback_version_id else None
    return DeploymentPublic(
        id=dep.id,
        model=dep.model,
        version=version.version,
        target=dep.target,
        tag=dep.tag,
        canary_percent=dep.canary_percent,
        devices=dep.devices,
        state=dep.state,
        reason=dep.reason,
        rollback_version=rollback.version if rollback else None,
        created_at=dep.created_at,
        finished_at=dep.finished_at,
        running=sum(r.state == "running" and r.version == version.version for r in rows),
        refused=sum(r.state == "refused" and r.refused_version == version.version for r in rows),
    )


def get_deployment(s: Session, deployment_id: int) -> t.Deployment:
    dep = s.get(t.Deployment, deployment_id)
    if dep is None:
        raise NotFound(f"deployment {deployment_id} not found")
    return dep


def list_deployments(
    s: Session, *, model: str | None = None, state: str | None = None
) -> list[t.Deployment]:
    query = select(t.Deployment).order_by(t.Deployment.id.desc())
    if model:
        query = query.where(t.Deployment.model == model)
    if state:
        query = query.where(t.Deployment.state == state)
    return list(s.scalars(query))


def record_report(
    s: Session, *, device_id: str, model: str, report: DeviceModelReport, now: datetime
) -> t.DeviceModel:
    row = s.get(t.DeviceModel, (device_id, model))
    if row is None:
        row = t.DeviceModel(device_id=device_id, model=model)
        s.add(row)
    if report.state == "running":
        row.version, row.seq, row.reason, row.refused_version = (
            report.version,
            report.seq,
            None,
            None,
        )
    else:
        row.version = row.version or report.version
        row.reason, row.refused_version = report.reason, report.refused_version
    row.state, row.deployment_id, row.updated_at = report.state, report.deployment_id, now
    s.flush()
    return row


def refusals(s: Session, *, deployment_id: int) -> dict[str, str]:
    """Device -> reason, for the devices that refused this deployment's version."""
    rows = s.scalars(
        select(t.DeviceModel).where(
            t.DeviceModel.deployment_id == deployment_id, t.DeviceModel.state == "refused"
        )
    )
    return {r.device_id: r.reason or "no reason given" for r in rows}


def device_models(s: Session, *, model: str) -> list[DeviceModelPublic]:
    rows = s.scalars(
        select(t.DeviceModel).where(t.DeviceModel.model == model).order_by(t.DeviceModel.device_id)
    )
    return [
        DeviceModelPublic(
            device_id=r.device_id,
            model=r.model,
            version=r.version,
            seq=r.seq,
            state=r.state,
            reason=r.reason,
            refused_version=r.refused_version,
            deployment_id=r.deployment_id,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


def observe(s: Session, *, model: str, devices: Sequence[str], since: datetime) -> Observed:
    """Requests, errors and p50 latency of `model` on `devices` since a time (results and
    device errors ingested by the bridge)."""
    if not devices:
        return Observed(0, 0, None)
    latencies = list(
        s.scalars(
            select(t.Result.latency_ms).where(
                t.Result.model == model, t.Result.device_id.in_(devices), t.Result.ts >= since
            )
        )
    )
    errors = (
        s.scalar(
            select(func.count())
            .select_from(t.DeviceError)
            .where(
                t.DeviceError.device_id.in_(devices),
                t.DeviceError.ts >= since,
                t.DeviceError.topic.contains(f"/{model}"),
            )
        )
        or 0
    )
    p50 = statistics.median(latencies) if latencies else None
    return Observed(len(latencies), int(errors), p50)
