"""Secure aggregation after a dropout (docs/federated.md, "Secure aggregation").

Each participant masks its update with one pairwise mask per peer, added towards higher ids
and subtracted towards lower ones, so the masks cancel in the sum of *all* uploads. A peer that
dropped out after the key exchange leaves its masks uncancelled in the survivors' uploads; each
survivor then reveals the X25519 secret it shared with each dropped peer, from which the hub
derives those masks (the same SHAKE-256 stream as the device) and takes them out of the sum.
Masks between survivors stay in place, so the hub still learns only the survivors' sum.
"""

import base64

import numpy as np

from cloud_hub.core.errors import Unprocessable
from models.training.updates import Encoding, pair_mask, ring_dtype

SECRET_BYTES = 32  # an X25519 shared secret


def decode_secrets(secrets: dict[str, str]) -> dict[str, bytes]:
    """The base64 secrets, each 32 bytes, or 422 naming the peer whose is not."""
    out: dict[str, bytes] = {}
    for peer, text in secrets.items():
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError:  # binascii.Error, or a non-ASCII string (found by the API fuzzer)
            raw = b""
        if len(raw) != SECRET_BYTES:
            raise Unprocessable(
                f"the secret for {peer} is not {SECRET_BYTES} bytes of base64", code="bad_secret"
            )
        out[peer] = raw
    return out


def remove_masks(
    accumulator: bytes,
    survivor: str,
    secrets: dict[str, bytes],
    round_id: int,
    encoding: Encoding = Encoding.MASKED,
) -> bytes:
    """The round's sum without the masks `survivor` shared with the dropped peers in `secrets`
    (undoing `models.training.updates.apply_masks` for those peers, in the round's ring)."""
    total = np.frombuffer(accumulator, ring_dtype(encoding)).copy()
    with np.errstate(over="ignore"):
        for peer, secret in secrets.items():
            mask = pair_mask(secret, round_id, total.size, encoding)
            total = total - mask if survivor < peer else total + mask
    return total.tobytes()
