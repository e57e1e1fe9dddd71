"""`{d}/twin/desired` and `{d}/twin/reported`: configuration with a version vector."""

from typing import Any

from pydantic import Field

from broker.contract.base import Message


class TwinDesired(Message):
    version: dict[str, int] = Field(description="version vector: writer -> counter")
    state: dict[str, Any]


class TwinReported(Message):
    version: dict[str, int]
    state: dict[str, Any]
