"""Federated update maths shared by devices and hub: wire format, int8, clipping, DP, masks.

An update is the change of the flat parameter vector after local training (trained - global).
On the wire (HTTP body) it is a 20-byte header then the values:

    magic b"EFU1" | version u8 | encoding u8 | flags u16 | n u32 | samples u32 | scale f32

`encoding` 0 = float32, 1 = int8 with one scale (value = q * scale), 2 = masked uint64 ring
elements (secure aggregation: fixed point, pairwise masks cancel only in the sum), 3 = masked
uint32 ring elements (secure aggregation with int8: whole steps of `scale`, which every device
of the round shares, so the steps add up; stochastic rounding keeps the sum unbiased). A
masked value must hold the weighted sum of every device's, so int8 steps travel in 32 bits:
half the bytes of the 64-bit fixed point, not a quarter of float32.
"""

import hashlib
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

MAGIC = b"EFU1"
HEADER = struct.Struct("<4sBBHIIf")
FIXED_POINT_BITS = 24  # secure aggregation: value * 2**24 as a uint64 ring element
FLAG_CLIPPED = 1


class Encoding(IntEnum):
    FP32 = 0
    INT8 = 1
    MASKED = 2
    MASKED32 = 3


_DTYPE = {
    Encoding.FP32: "<f4",
    Encoding.INT8: "i1",
    Encoding.MASKED: "<u8",
    Encoding.MASKED32: "<u4",
}
_WIDTH = {e: np.dtype(d).itemsize for e, d in _DTYPE.items()}
MASKED_ENCODINGS = (Encoding.MASKED, Encoding.MASKED32)
INT8_STEPS = 127  # int8 under secure aggregation: a value is one of -127..127 steps of its range


class UpdateFormatError(ValueError):
    """The body is not a well-formed update; `reason` is recorded with the rejection."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class WireUpdate:
    encoding: Encoding
    samples: int
    scale: float
    values: np.ndarray  # float32, int8 or uint64 as sent
    flags: int = 0

    def to_float(self) -> np.ndarray:
        """The update as float32 (not for masked updates: those only make sense summed)."""
        if self.encoding in MASKED_ENCODINGS:
            raise ValueError("a masked update has no value of its own")
        if self.encoding is Encoding.INT8:
            return dequantize_int8(self.values, self.scale)
        return self.values.astype(np.float32)


def encode_update(update: WireUpdate) -> bytes:
    values = np.ascontiguousarray(update.values, dtype=_DTYPE[update.encoding])
    head = HEADER.pack(
        MAGIC, 1, int(update.encoding), update.flags, values.size, update.samples, update.scale
    )
    return head + values.tobytes()


def decode_update(body: bytes, expected_size: int) -> WireUpdate:
    """Parse a body; raise UpdateFormatError(reason) for a bad header, shape or dtype."""
    if len(body) < HEADER.size:
        raise UpdateFormatError("malformed", f"body of {len(body)} bytes has no update header")
    magic, version, encoding, flags, n, samples, scale = HEADER.unpack_from(body)
    if magic != MAGIC or version != 1:
        raise UpdateFormatError("malformed", "not an edgefleet update (bad magic or version)")
    if encoding not in _WIDTH:
        raise UpdateFormatError("wrong_dtype", f"unknown encoding {encoding}")
    enc = Encoding(encoding)
    if n != expected_size:
        raise UpdateFormatError("wrong_shape", f"{n} values, the model has {expected_size}")
    if len(body) - HEADER.size != n * _WIDTH[enc]:
        raise UpdateFormatError(
            "wrong_dtype",
            f"{len(body) - HEADER.size} value bytes do not hold {n} {enc.name.lower()} values",
        )
    values = np.frombuffer(body, dtype=_DTYPE[enc], count=n, offset=HEADER.size)
    if enc is Encoding.INT8 and not (np.isfinite(scale) and scale >= 0):
        raise UpdateFormatError("non_finite", f"int8 scale {scale} is not a finite number >= 0")
    return WireUpdate(enc, samples, float(scale), values, flags)


def quantize_int8(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Symmetric int8: q = round(v / scale), scale = max|v| / 127 (0 for an all-zero vector)."""
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if peak == 0.0:
        return np.zeros(values.shape, dtype=np.int8), 0.0
    scale = peak / 127.0
    q = np.clip(np.rint(values / scale), -127, 127).astype(np.int8)
    return q, scale


def dequantize_int8(q: np.ndarray, scale: float) -> np.ndarray:
    return q.astype(np.float32) * np.float32(scale)


def clip_l2(values: np.ndarray, max_norm: float) -> np.ndarray:
    """Scale `values` down so that its L2 norm is at most `max_norm` (DP per-update clipping)."""
    norm = float(np.linalg.norm(values))
    if norm <= max_norm or norm == 0.0:
        return values.astype(np.float32)
    return (values * (max_norm / norm)).astype(np.float32)


def to_fixed(values: np.ndarray) -> np.ndarray:
    """float -> uint64 ring element (two's complement fixed point, 2**-24 resolution)."""
    return (
        np.rint(values.astype(np.float64) * (1 << FIXED_POINT_BITS))
        .astype(np.int64)
        .view(np.uint64)
    )


def from_fixed(ring: np.ndarray) -> np.ndarray:
    """A uint64 ring sum back to float64 (exact while the true sum stays below 2**39)."""
    return ring.view(np.int64).astype(np.float64) / (1 << FIXED_POINT_BITS)


def pair_mask(
    shared_secret: bytes, round_id: int, n: int, encoding: Encoding = Encoding.MASKED
) -> np.ndarray:
    """The mask two clients derive from their X25519 shared secret for one round: `n` words
    (uint64, or uint32 for MASKED32) of SHAKE-256 output (an extendable-output function of the
    SHA-3 family, used as a cryptographic pseudo-random stream). A statistical generator such as
    PCG64 would not do: its output reveals its state, so an observer of one masked update could
    predict the mask."""
    xof = hashlib.shake_256(b"edgefleet-secagg-v2" + round_id.to_bytes(8, "big") + shared_secret)
    dtype = ring_dtype(encoding)
    return np.frombuffer(xof.digest(dtype.itemsize * n), dtype=_DTYPE[encoding]).astype(dtype)


def apply_masks(fixed: np.ndarray, masks: dict[str, np.ndarray], me: str) -> np.ndarray:
    """Add the mask shared with each lower-ordered peer, subtract the others (mod 2**64):
    summed over all clients every mask appears once with + and once with - and cancels."""
    out = fixed.copy()
    with np.errstate(over="ignore"):
        for peer, mask in masks.items():
            out = out + mask if me < peer else out - mask
    return out


def ring_dtype(encoding: Encoding) -> np.dtype[np.unsignedinteger[Any]]:
    """The numpy type of a masked encoding's ring elements (native byte order, as summed)."""
    dtype: np.dtype[np.unsignedinteger[Any]] = np.dtype(_DTYPE[encoding]).newbyteorder("=")
    return dtype


def masked_encoding(int8: bool) -> Encoding:
    """How a secure-aggregation round's updates travel: int8 steps in a 32-bit ring, or 64-bit
    fixed point."""
    return Encoding.MASKED32 if int8 else Encoding.MASKED


def int8_step(value_range: float) -> float:
    """The step of int8 values under secure aggregation for a round's `secure_range`, as the
    float32 the wire header carries (devices and hub must agree on it to the bit)."""
    return float(np.float32(value_range / INT8_STEPS))


def to_ring(
    values: np.ndarray, weight: int, encoding: Encoding, step: float, rng: np.random.Generator
) -> np.ndarray:
    """`values * weight` as ring elements for masking: 64-bit fixed point, or (MASKED32) whole
    int8 steps of `step` — each value clipped to +-127 steps and rounded down or up at random in
    proportion to its remainder, so the rounding errors of many devices average out."""
    if encoding is Encoding.MASKED:
        return to_fixed(values * weight)
    steps = np.clip(values.astype(np.float64) / step, -INT8_STEPS, INT8_STEPS)
    whole = np.floor(steps + rng.random(steps.shape)).astype(np.int64) * weight
    return whole.view(np.uint64).astype(np.uint32)  # mod 2**32, two's complement


def from_ring(ring: np.ndarray, encoding: Encoding, step: float) -> np.ndarray:
    """A ring sum back to float64 (`to_ring`'s inverse for sums that fit the ring)."""
    if encoding is Encoding.MASKED:
        return from_fixed(ring)
    return ring.astype(np.uint32).view(np.int32).astype(np.float64) * step
