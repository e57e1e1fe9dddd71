"""Hard samples as the API shows them (docs/hub.md "Hard samples")."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud_hub.schemas.common import RequestModel

Review = Literal["unreviewed", "accepted", "corrected"]


class SamplePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: str
    model: str = Field(description="the device's model")
    model_version: str
    cloud_model: str
    cloud_version: str
    sha256: str = Field(description="of the input; GET .../content for the bytes")
    edge_output: dict[str, Any]
    cloud_output: dict[str, Any]
    agree: bool = Field(description="the two answers agree (cloud_hub/inference/agreement.py)")
    review: Review
    label: dict[str, Any] | None = Field(description="the reviewed answer, once there is one")
    reviewed_at: datetime | None
    ts: datetime


class SampleReview(RequestModel):
    """`accepted`: the cloud's answer is right (it becomes the label); `corrected`: `label` is
    the right answer, in the output's own shape (e.g. `{"faces": []}`)."""

    review: Literal["accepted", "corrected"]
    label: dict[str, Any] | None = Field(
        default=None, description="corrected only: the right output"
    )
