"""Signing and verifying a manifest (`contract.manifest.ModelManifest`, `AgentRelease`): the hub
signs it (Ed25519), devices verify it against the public key they pinned at enrollment before
loading anything."""

import base64
from typing import Protocol


class Signable(Protocol):
    """A manifest: `ModelManifest` or `AgentRelease`, each with its own signing domain."""

    def signed_bytes(self) -> bytes: ...


class SignatureError(ValueError):
    """The manifest is unsigned or its signature does not verify with the pinned key."""


def sign(manifest: Signable, private_key_raw: bytes) -> str:
    """Base64 Ed25519 signature of the manifest with a raw 32-byte private key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(private_key_raw)
    return base64.b64encode(key.sign(manifest.signed_bytes())).decode()


def verify(manifest: Signable, signature: str | None, public_key_b64: str) -> None:
    """Raise SignatureError unless `signature` is the pinned key's signature of `manifest`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not signature:
        raise SignatureError("the artifact is unsigned")
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        key.verify(base64.b64decode(signature, validate=True), manifest.signed_bytes())
    except (InvalidSignature, ValueError) as exc:
        why = str(exc) or "invalid signature"
        raise SignatureError(f"signature does not verify with the pinned hub key ({why})") from None
