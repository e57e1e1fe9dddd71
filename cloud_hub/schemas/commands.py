"""Commands the hub sent to a device and the device's replies (table `commands`)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class CommandPublic(BaseModel):
    device_id: str
    name: str = Field(description="the `{name}` of `{d}/cmd/{name}`")
    cmd_id: str
    args: dict[str, Any] | None = Field(
        description="as sent; null for a reply to a command this hub has no record of"
    )
    sent_at: datetime | None = Field(description="when the hub published it (hub clock)")
    replied_at: datetime | None = Field(
        description="the reply's `ts` (the device's clock); null while no reply came"
    )
    ok: bool | None
    code: str | None = Field(description="if not ok: why, for programs (`bad_args`, ...)")
    error: str | None = Field(description="if not ok: why, for people")
    result: dict[str, Any] | None = Field(description="if ok: the command's result")
