"""Field types and the page envelope shared by the resources."""

import json
import math
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from contract import ids

DeviceId = Annotated[ids.DeviceId, Field(examples=["cam-kitchen-01"])]
Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:=/-]{0,99}$")]
ModelId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
MAX_METADATA_BYTES = 16 * 1024
# Largest id of the tables addressed by a numeric path id (api keys, enrollment tokens,
# deployments, rounds: `Integer`, 32-bit on PostgreSQL): a bigger one is a 422, not an
# overflow in the driver (500).
MAX_ROW_ID = 2**31 - 1


def _small(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata larger than {MAX_METADATA_BYTES} bytes once encoded")
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(_small)]
Tags = Annotated[list[Tag], Field(max_length=50)]
Capabilities = Annotated[list[ModelId], Field(max_length=100)]


MAX_JSON_DEPTH = 32


def unstorable(value: Any) -> str | None:
    """Why the hub will not store this JSON value, or None: a NUL character in a string or
    key, or a NaN / infinite number (Python's json parser accepts them, PostgreSQL does
    not), or nesting deeper than MAX_JSON_DEPTH (which the response could not serialize)."""
    stack: list[tuple[Any, int]] = [(value, 0)]  # iterative: no Python stack overflow
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return "text must not contain NUL (\\u0000) characters"
        if isinstance(item, float) and not math.isfinite(item):
            return "numbers must be finite (no NaN / Infinity)"
        if isinstance(item, dict | list | tuple):
            if depth > MAX_JSON_DEPTH:
                return f"objects nest deeper than {MAX_JSON_DEPTH} levels"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


class StorableModel(BaseModel):
    """Nothing PostgreSQL refuses anywhere in the body (keys of free-form objects included):
    no NUL in text or JSON, no NaN / Infinity in JSON. A 422 here rather than a 500 from
    the driver (SQLite would store what PostgreSQL cannot)."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_unstorable(cls, data: Any) -> Any:
        why = unstorable(data)
        if why is not None:
            raise ValueError(why)
        return data


class RequestModel(StorableModel):
    """Request bodies refuse unknown fields so that a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    detail: Any | None = None


class ErrorResponse(BaseModel):
    """Every error the hub answers: `{"error": {"code", "message", "detail"?}}`."""

    error: ErrorDetail


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` declaring these statuses with the hub's error body."""
    return {
        code: {"model": ErrorResponse, "description": _ERROR_DESCRIPTIONS[code]} for code in codes
    }


_ERROR_DESCRIPTIONS = {
    400: "`malformed_json`: the body is not JSON",
    401: "missing or invalid credentials",
    403: "the credentials may not do this",
    404: "no such resource",
    409: "conflicts with the current state (already exists, edited meanwhile, closed)",
    413: "`payload_too_large`",
    415: "`unsupported_media_type`",
    422: "`validation_error`: the request does not match this schema",
    503: "not ready or overloaded; try again later",
    504: "`command_timeout`: the device did not reply in time",
}


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="rows matching the filters")
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` to get the next page; null on the last page"
    )
