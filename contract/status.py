"""`{d}/status`: retained birth message and Last Will."""

from typing import Literal

from pydantic import Field

from contract.base import Message


class Status(Message):
    state: Literal["online", "offline"]
    agent_version: str = Field(description="version of the edgefleet agent")
    models: list[str] = Field(default_factory=list, description="model ids the device serves")
