"""`{d}/cmd/{name}` and `{d}/cmd/{name}/reply`: hub-to-device commands."""

from typing import Any

from pydantic import Field

from contract.base import Message


class Command(Message):
    cmd_id: str
    args: dict[str, Any] = Field(default_factory=dict)


class CommandReply(Message):
    cmd_id: str
    ok: bool
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
