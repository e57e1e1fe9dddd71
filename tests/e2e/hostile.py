"""Hostile inputs for a real agent, from a seeded `random.Random`: each with the topic it goes to
(unique, so its answer can be matched) and the answers the contract allows for it.

The agent under test serves face-detect-lite (also on the sensor filter `cameras/+/jpeg`),
wakeword-lite and engine-fault. Raw s16le is valid wake-word input, so any even-length payload
that is not RIFF is audio and gets a result: the audio oracle says so instead of pretending
every random payload is bad.
"""

import functools
import json
import random
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from skimage import data

from contract import Topics
from models.datasets.engine import MODES, NUMERIC, RANGES
from models.processing.voice import encode_wav

T = Topics()
DEVICE = "hostile-0"
FACE, WAKE, ENGINE = "face-detect-lite", "wakeword-lite", "engine-fault"
SENSOR = "cameras/+/jpeg"
MAX_PAYLOAD = 256 * 1024
RESULT = "result"


@dataclass(frozen=True)
class Case:
    """One request: `expect` holds the answers allowed (error codes, or `result`)."""

    kind: str
    topic: str
    payload: bytes
    expect: frozenset[str]
    rid: str | None = None


# --- valid inputs -------------------------------------------------------------------------------


@functools.cache
def jpeg(side: int = 128) -> bytes:
    image = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (side, side))
    return bytes(cv2.imencode(".jpg", image)[1].tobytes())


@functools.cache
def png(side: int = 64) -> bytes:
    image = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (side, side))
    return bytes(cv2.imencode(".png", image)[1].tobytes())


@functools.cache
def wav(seconds: float = 0.5) -> bytes:
    t = np.arange(int(16_000 * seconds))
    return encode_wav((np.sin(t / 5) * 8000).astype(np.int16))


def reading(**values: object) -> bytes:
    """An engine reading, mid-range unless `values` say otherwise."""
    mid: dict[str, object] = {k: sum(RANGES[k]) / 2 for k in NUMERIC}
    return json.dumps(mid | {"operating_mode": MODES[0]} | values).encode()


# --- malformed inputs ---------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body).to_bytes(4, "big")
    return len(body).to_bytes(4, "big") + kind + body + crc


def png_declaring(width: int, height: int) -> bytes:
    """A well-formed PNG header (IHDR with CRC) declaring `width` x `height`, a little data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(4096), 9)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@functools.cache
def png_bomb(width: int = 8192, height: int = 4800) -> bytes:
    """A complete, decodable all-black PNG: ~115 kB that decode to 118 MB (39 MP)."""
    row = bytes(1 + 3 * width)  # filter byte 0, then black pixels
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def wav_declaring(data_bytes: int) -> bytes:
    """A 16 kHz mono WAV whose data chunk claims `data_bytes` (gigabytes) and holds 0.1 s."""
    head = wav(0.1)
    return head[:40] + data_bytes.to_bytes(4, "little") + head[44:]


def mutated(rng: random.Random, payload: bytes, head: int) -> bytes:
    """`payload` with a few bytes among the first `head` replaced (header fuzzing)."""
    out = bytearray(payload)
    for _ in range(rng.randint(1, 6)):
        out[rng.randrange(min(head, len(out)))] = rng.randrange(256)
    return bytes(out)


def truncated(rng: random.Random, payload: bytes, at_least: int = 2) -> bytes:
    return payload[: rng.randrange(at_least, len(payload) - 1)]


def envelope(rng: random.Random) -> bytes:
    """JSON that is not what the topic wants: wrong types, missing fields, deep, huge, odd ts."""
    shapes: list[object] = [
        [],
        "image",
        rng.randint(-(10**30), 10**30),
        None,
        {},
        {"cmd_id": rng.randint(0, 9), "args": "x"},
        {"image": "aGVsbG8=", "rid": rng.random()},
        {"cmd_id": "x", "ts": "0001-01-01T00:00:00+14:00"},
        {"cmd_id": "x", "ts": "9999-12-31T23:59:59-14:00"},
        {NUMERIC[0]: 1.0, "operating_mode": MODES[0]},
        dict.fromkeys(NUMERIC, 1.0) | {"operating_mode": "warp"},
    ]
    return json.dumps(rng.choice(shapes)).encode()


def deep_json(rng: random.Random) -> bytes:
    """Nesting deeper than a JSON parser's recursion limit (RecursionError, not ValueError)."""
    depth = rng.randint(1000, 20_000)
    return ("[" * depth + "]" * depth).encode()


def absurd_reading(rng: random.Random) -> bytes:
    """A well-formed reading with one number no float32 feature can hold (or no number)."""
    value = rng.choice([10**400, -(10**400), 1e308, -1e308, float("nan"), float("inf")])
    return reading(**{rng.choice(NUMERIC): value})


def audio_oracle(payload: bytes) -> frozenset[str]:
    """What wakeword-lite must answer: raw s16le is any even-length non-RIFF payload."""
    bad = not payload or len(payload) % 2 or payload.startswith(b"RIFF")
    return frozenset({"bad_audio"} if bad else {RESULT})


# --- the generator ------------------------------------------------------------------------------


class Hostile:
    """Cases per class over every target, drawn from `random.Random(seed)`; request ids and
    sensor topics are `{tag}{n}`, unique per generator."""

    def __init__(self, seed: int, tag: str = "h") -> None:
        self.rng = random.Random(seed)
        self._tag = tag
        self._n = 0

    def _next(self) -> str:
        self._n += 1
        return f"{self._tag}{self._n:05d}"

    def infer(self, model: str, kind: str, payload: bytes, expect: frozenset[str]) -> Case:
        rid = self._next()
        return Case(kind, T.infer(DEVICE, model, rid), payload, expect, rid)

    def sensor(self, kind: str, payload: bytes, expect: frozenset[str]) -> Case:
        return Case(kind, f"cameras/{self._next()}/jpeg", payload, expect)

    def command(self, kind: str, payload: bytes) -> Case:
        return Case(kind, T.cmd(DEVICE, self._next()), payload, frozenset({"bad_command"}))

    def image_payloads(self) -> Iterator[tuple[str, bytes, frozenset[str]]]:
        rng, bad = self.rng, frozenset({"bad_image"})
        yield "random bytes", rng.randbytes(rng.randint(1, 4096)), bad
        yield "empty", b"", bad
        yield "truncated jpeg", truncated(rng, jpeg()), bad
        yield "truncated png", truncated(rng, png()), bad
        yield "png 20000x20000 header", png_declaring(20_000, 20_000), bad
        yield "png bomb 8192x4800", png_bomb(), bad
        yield "json envelope", envelope(rng), bad
        yield "mutated jpeg", mutated(rng, jpeg(), 600), frozenset({"bad_image", RESULT})
        yield "oversized", rng.randbytes(MAX_PAYLOAD + rng.randint(1, 65_536)), _TOO_LARGE

    def audio_payloads(self) -> Iterator[tuple[str, bytes, frozenset[str]]]:
        rng, bad = self.rng, frozenset({"bad_audio"})
        noise = rng.randbytes(rng.randint(1, 4096))
        yield "random bytes", noise, audio_oracle(noise)
        yield "empty", b"", bad
        yield "wav declaring 4 GB", wav_declaring(0xFFFF_FFF0), bad
        yield "truncated wav", truncated(rng, wav(), at_least=12), bad
        yield "mutated wav header", mutated(rng, wav(), 44), frozenset({"bad_audio", RESULT})
        text = envelope(rng)
        yield "json envelope", text, audio_oracle(text)
        yield "oversized", rng.randbytes(MAX_PAYLOAD + rng.randint(1, 65_536)), _TOO_LARGE

    def json_payloads(self) -> Iterator[tuple[str, bytes, frozenset[str]]]:
        rng, bad = self.rng, frozenset({"bad_json"})
        yield "random bytes", rng.randbytes(rng.randint(1, 4096)), bad
        yield "empty", b"", bad
        yield "json envelope", envelope(rng), bad
        yield "deep json", deep_json(rng), bad
        yield "absurd reading", absurd_reading(rng), bad
        yield "oversized", rng.randbytes(MAX_PAYLOAD + rng.randint(1, 65_536)), _TOO_LARGE

    def round(self) -> list[Case]:
        """One case of every class on every target, shuffled."""
        cases = [self.infer(FACE, f"face: {k}", p, e) for k, p, e in self.image_payloads()]
        cases += [self.sensor(f"sensor: {k}", p, e) for k, p, e in self.image_payloads()]
        cases += [self.infer(WAKE, f"wake: {k}", p, e) for k, p, e in self.audio_payloads()]
        cases += [self.infer(ENGINE, f"engine: {k}", p, e) for k, p, e in self.json_payloads()]
        cases.append(self.command("cmd: json envelope", envelope(self.rng)))
        cases.append(self.command("cmd: deep json", deep_json(self.rng)))
        cases.append(self.command("cmd: random bytes", self.rng.randbytes(64)))
        rid = self._next()
        cases.append(Case("unknown model", T.infer(DEVICE, "nope", rid), jpeg(), _UNKNOWN, rid))
        bad_topic = f"{T.infer(DEVICE, FACE, self._next())}/extra"
        cases.append(Case("bad topic", bad_topic, jpeg(), frozenset({"bad_topic"})))
        self.rng.shuffle(cases)
        return cases

    def burst(self, n: int, qos: int) -> list[Case]:
        """`n` valid small requests at once: each answered, or refused as `overloaded`."""
        allowed = frozenset({RESULT, "overloaded"})
        return [self.infer(FACE, f"burst qos {qos}", jpeg(32), allowed) for _ in range(n)]


_TOO_LARGE = frozenset({"too_large"})
_UNKNOWN = frozenset({"unknown_model"})
