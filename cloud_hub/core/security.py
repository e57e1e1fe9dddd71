"""Credentials: random secrets shown once, stored as SHA-256 digests.

Every credential is 256 bits from `secrets`, so a fast digest is enough (a slow password hash
such as argon2 protects low-entropy human passwords and would cost milliseconds per request).
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

ADMIN_KEY_PREFIX = "efk_"
ENROLL_TOKEN_PREFIX = "eft_"
DEVICE_SECRET_PREFIX = "efd_"


class Role(StrEnum):
    ADMIN = "admin"
    VIEWER = "viewer"  # read-only: the dashboard
    DEVICE = "device"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key (admin or viewer) or one device."""

    role: Role
    name: str
    device_id: str | None = None

    @property
    def can_read_fleet(self) -> bool:
        return self.role in (Role.ADMIN, Role.VIEWER)


BOOTSTRAP_ADMIN = Principal(Role.ADMIN, "bootstrap")
"""The caller holding the configured admin key, which has no `api_keys` row."""


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)
