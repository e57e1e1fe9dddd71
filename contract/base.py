"""Base class of every JSON payload: UTF-8 object with an RFC 3339 UTC `ts`."""

from datetime import UTC, datetime
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, ValidationError

from contract.errors import ContractError


def utcnow() -> datetime:
    return datetime.now(UTC)


def _rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _as_utc(ts: datetime) -> datetime:
    """Aware UTC always: a naive time is read as UTC (not local time), others are converted.

    A time whose UTC equivalent is outside years 1..9999 is a validation error: OverflowError
    is not one pydantic catches, so it would escape `decode()` and crash the caller.
    """
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    try:
        return ts.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{ts.isoformat()} is out of range in UTC (years 1..9999)") from None


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
        raise ContractError(f"invalid {cls.__name__} payload: {problems(exc)}") from exc


def problems(exc: ValidationError) -> str:
    """`field.path: reason; ...`, one entry per problem, for error messages."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
    )
