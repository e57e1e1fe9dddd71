"""Enrollment tokens (admin) and the enrollment request a device sends with one."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from cloud_hub.schemas.common import (
    Capabilities,
    DeviceId,
    Metadata,
    RequestModel,
    Tags,
)


class EnrollmentTokenCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    max_uses: int | None = Field(
        default=1, ge=1, le=2**31 - 1, description="null: unlimited until expiry"
    )
    expires_in_s: int = Field(default=24 * 3600, ge=60, le=366 * 24 * 3600)
    site: str | None = Field(default=None, max_length=200, description="given to its devices")
    tags: Tags = Field(default_factory=list, description="given to its devices")
    metadata: Metadata = Field(default_factory=dict)


class EnrollmentTokenPublic(BaseModel):
    id: int
    name: str
    max_uses: int | None
    uses: int
    expires_at: datetime
    revoked: bool
    created_at: datetime
    site: str | None
    tags: list[str]
    metadata: dict[str, Any]


class EnrollmentTokenCreated(EnrollmentTokenPublic):
    token: str = Field(description="shown once; give it to `edgefleet provision --token`")


class EnrollRequest(RequestModel):
    """What `edgefleet provision` sends, with `Authorization: Bearer <token>`."""

    device_id: DeviceId | None = Field(default=None, description="generated when omitted")
    name: str | None = Field(default=None, max_length=200)
    hardware: str | None = Field(default=None, max_length=200)
    agent_version: str | None = Field(default=None, max_length=64)
    capabilities: Capabilities = Field(default_factory=list)
    tags: Tags = Field(default_factory=list, description="added to the token's tags")
    metadata: Metadata = Field(default_factory=dict)
