"""Voice pre-processing as pure numpy: WAV or raw s16le -> int16 mono 16 kHz samples."""

import io
import wave

import numpy as np

from contract.errors import ErrorCode
from models.errors import InputError

SAMPLE_RATE = 16_000
MAX_SECONDS = 10.0


def _bad(message: str) -> InputError:
    return InputError(ErrorCode.BAD_AUDIO, message)


def _decode_wav(data: bytes) -> np.ndarray:
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            if (channels, width, rate) != (1, 2, SAMPLE_RATE):
                raise _bad(
                    f"WAV is {rate} Hz, {channels} channel(s), {8 * width}-bit; "
                    f"expected {SAMPLE_RATE} Hz mono 16-bit"
                )
            frames = wav.getnframes()
            pcm = wav.readframes(frames)
    # RuntimeError: what `wave` raises, bare, for a chunk size that points past the data
    except (wave.Error, EOFError, RuntimeError) as exc:
        raise _bad(f"invalid WAV: {exc or 'a chunk overruns the data'}") from exc
    if len(pcm) != frames * 2:
        raise _bad(f"truncated WAV: header promises {frames} samples, data holds {len(pcm) // 2}")
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16)


def decode_audio(data: bytes, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """WAV (16 kHz mono 16-bit) or raw s16le 16 kHz mono -> int16 samples.

    Raises InputError(BAD_AUDIO) for anything else and InputError(TOO_LARGE) for clips longer
    than `max_seconds`.
    """
    if not data:
        raise _bad("empty audio payload")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        samples = _decode_wav(data)
    elif data[:4] == b"RIFF":
        raise _bad("RIFF payload that is not a WAVE file")
    else:
        if len(data) % 2:
            raise _bad(f"raw s16le audio must have an even byte count, got {len(data)}")
        samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
    if len(samples) == 0:
        raise _bad("audio holds no samples")
    if len(samples) > max_seconds * SAMPLE_RATE:
        raise InputError(
            ErrorCode.TOO_LARGE,
            f"clip is {len(samples) / SAMPLE_RATE:.2f} s, longer than the {max_seconds:g} s limit",
        )
    return samples


def encode_wav(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """int16 mono samples -> WAV bytes (for tests, demos and clients)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return buffer.getvalue()
