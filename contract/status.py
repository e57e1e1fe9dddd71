"""`{d}/status`: retained birth message and Last Will."""

from typing import Literal

from pydantic import Field

from contract.base import Message
from contract.health import DeviceState

Presence = Literal[DeviceState.ONLINE, DeviceState.OFFLINE]
"""What a device says of itself on `{d}/status`: its birth message or its Last Will."""


class Status(Message):
    state: Presence
    agent_version: str = Field(description="version of the edgefleet agent")
    models: list[str] = Field(default_factory=list, description="model ids the device serves")
