"""Results and events ingested from devices."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ResultPublic(BaseModel):
    msg_id: str
    device_id: str
    model: str
    model_version: str
    where: str
    latency_ms: float
    rid: str | None
    output: dict[str, Any]
    ts: datetime


class EventPublic(BaseModel):
    msg_id: str
    device_id: str
    kind: str
    model: str
    rid: str | None
    data: dict[str, Any]
    ts: datetime


class DeviceErrorPublic(BaseModel):
    device_id: str
    topic: str
    code: str
    error: str
    rid: str | None
    ts: datetime
