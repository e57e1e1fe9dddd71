"""Field types and the page envelope shared by the resources."""

import json
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from broker.contract.topics import DEVICE_ID_RE

DeviceId = Annotated[str, Field(pattern=DEVICE_ID_RE.pattern, examples=["cam-kitchen-01"])]
Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:=/-]{0,99}$")]
ModelId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
MAX_METADATA_BYTES = 16 * 1024


def _small(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata larger than {MAX_METADATA_BYTES} bytes once encoded")
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(_small)]
Tags = Annotated[list[Tag], Field(max_length=50)]
Capabilities = Annotated[list[ModelId], Field(max_length=100)]


class RequestModel(BaseModel):
    """Request bodies refuse unknown fields so that a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="rows matching the filters")
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` to get the next page; null on the last page"
    )
