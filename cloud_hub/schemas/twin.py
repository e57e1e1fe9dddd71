"""The reported twin of a device."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from cloud_hub.schemas.common import StorableModel


class TwinPublic(BaseModel):
    reported: dict[str, Any] | None
    version: dict[str, int]
    ts: datetime | None


class TwinDesiredWrite(StorableModel):
    """`PUT` (replace) or `PATCH` (merge; a null value removes the key) of the desired state."""

    state: dict[str, Any]
    base_version: dict[str, int] | None = None
    """If-Match: the desired version this edit was based on; a different current version
    answers 409 `twin_conflict` with both versions instead of overwriting someone's edit."""


class TwinConflictRecord(BaseModel):
    ts: datetime
    source: str
    """`hub` (reported concurrent with desired, seen at ingest) or `device` (the device's
    own merge found keys changed on both sides)."""
    desired_version: dict[str, int]
    reported_version: dict[str, int]
    keys: list[dict[str, Any]]


class TwinDesiredPublic(BaseModel):
    device_id: str
    state: dict[str, Any]
    version: dict[str, int]
    ts: datetime | None
    published: bool
    """Whether the last change reached the broker (retained `twin/desired`)."""
    sync: str
    """in_sync | pending (device has not seen it) | conflict (concurrent versions) |
    drift (device has seen it but runs other values, e.g. rejected keys) | no_report"""
    reported_version: dict[str, int] | None
    rejected: dict[str, str]
    conflicts: list[TwinConflictRecord]
