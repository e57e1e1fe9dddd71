"""Base class of every JSON payload: UTF-8 object with an RFC 3339 UTC `ts`."""

from datetime import UTC, datetime
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, ValidationError

from broker.contract.errors import ContractError


def utcnow() -> datetime:
    return datetime.now(UTC)


def _rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _as_utc(ts: datetime) -> datetime:
    """Aware UTC always: a naive time is read as UTC (not local time), others are converted."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


Timestamp = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(_rfc3339, return_type=str, when_used="json"),
]


class Message(BaseModel):
    """Every payload carries `ts`; unknown fields are ignored so the contract can grow."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ts: Timestamp = Field(default_factory=utcnow, description="RFC 3339 UTC time of sending")


M = TypeVar("M", bound=BaseModel)


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json(exclude_none=True).encode()


def decode(cls: type[M], payload: bytes | str) -> M:
    """Parse a payload into `cls`, raising ContractError with a readable reason."""
    try:
        return cls.model_validate_json(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        raise ContractError(f"invalid {cls.__name__} payload: {problems}") from exc
