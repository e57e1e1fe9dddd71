"""The hub's Ed25519 signing key, one for every replica: devices pin its public half at
enrollment and refuse a model or an agent release signed by any other.

By default it lives in the database (`hub_secrets`), made by whichever replica starts first; a
hub that kept it in `<data_dir>/registry_ed25519.pem` before brings that key along, so the
devices enrolled then keep verifying. With `registry_key_file` set the operator owns it: a
PEM file every replica mounts (generated there if missing, mode 0600)."""

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_hub.core.db import Database
from cloud_hub.db import tables as t
from cloud_hub.ingest.sql import bulk_insert_ignore
from models.training.manifest import Signable, sign

SECRET_NAME = "registry_ed25519"


class SigningKey:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        raw_public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key_b64 = base64.b64encode(raw_public).decode()

    def sign(self, manifest: Signable) -> str:
        """A model manifest's or an agent release's signature (each has its own domain)."""
        raw = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return sign(manifest, raw)

    @classmethod
    def from_pem(cls, pem: bytes, where: str) -> "SigningKey":
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{where} does not hold an Ed25519 private key")
        return cls(key)

    @classmethod
    def load_or_create(cls, path: Path) -> "SigningKey":
        if path.exists():
            return cls.from_pem(path.read_bytes(), str(path))
        pem = _new_pem()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return cls.from_pem(pem, str(path))

    @classmethod
    def shared(cls, db: Database, legacy: Path) -> "SigningKey":
        """The database's key; the first replica to start stores `legacy`'s, or a new one.
        Replicas starting together each offer theirs and all read back the one that won."""
        with db.session(write=True) as s:
            row = s.get(t.HubSecret, SECRET_NAME)
            if row is None:
                pem = legacy.read_bytes() if legacy.exists() else _new_pem()
                bulk_insert_ignore(s, t.HubSecret, [{"name": SECRET_NAME, "value": pem.decode()}])
                s.expire_all()
                row = s.get(t.HubSecret, SECRET_NAME)
            assert row is not None
            return cls.from_pem(row.value.encode(), f"hub_secrets[{SECRET_NAME}]")


def _new_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
