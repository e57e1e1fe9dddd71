"""Admin and viewer API keys."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from cloud_hub.schemas.common import RequestModel


class ApiKeyCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "viewer"] = "viewer"


class ApiKeyPublic(BaseModel):
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked: bool


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="shown once; send as `Authorization: Bearer <key>`")
