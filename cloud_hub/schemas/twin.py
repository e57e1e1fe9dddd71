"""The reported twin of a device."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class TwinPublic(BaseModel):
    reported: dict[str, Any] | None
    version: dict[str, int]
    ts: datetime | None
