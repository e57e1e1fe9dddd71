"""Wall-clock time in UTC, one place to read it."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
