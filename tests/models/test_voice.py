"""Audio decoding: WAV or raw s16le at 16 kHz mono; everything else is a clear InputError."""

import io
import wave

import numpy as np
import pytest

from broker.contract.errors import ErrorCode
from models.errors import InputError
from models.processing.voice import decode_audio, encode_wav

TONE = (np.sin(np.arange(1600) / 5) * 8000).astype(np.int16)


def _wav(rate: int = 16000, channels: int = 1, width: int = 2, frames: int = 1600) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(bytes(frames * channels * width))
    return buffer.getvalue()


def test_wav_and_raw_decode_to_the_same_samples() -> None:
    np.testing.assert_array_equal(decode_audio(encode_wav(TONE)), TONE)
    np.testing.assert_array_equal(decode_audio(TONE.astype("<i2").tobytes()), TONE)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", ErrorCode.BAD_AUDIO),
        (b"\x01\x02\x03", ErrorCode.BAD_AUDIO),  # odd byte count
        (_wav(rate=44100), ErrorCode.BAD_AUDIO),
        (_wav(channels=2), ErrorCode.BAD_AUDIO),
        (_wav(width=1), ErrorCode.BAD_AUDIO),
        (encode_wav(TONE)[:-100], ErrorCode.BAD_AUDIO),  # truncated data chunk
        (encode_wav(TONE)[:30], ErrorCode.BAD_AUDIO),  # truncated header
        (b"RIFF\x00\x00\x00\x00AVI LIST", ErrorCode.BAD_AUDIO),
        (_wav(frames=0), ErrorCode.BAD_AUDIO),
        (bytes(2 * 16000 * 11), ErrorCode.TOO_LARGE),  # 11 s of raw audio
    ],
    ids=[
        "empty",
        "odd",
        "44k",
        "stereo",
        "8bit",
        "truncated",
        "header",
        "riff-avi",
        "no-samples",
        "too-long",
    ],
)
def test_bad_audio(payload: bytes, code: ErrorCode) -> None:
    with pytest.raises(InputError) as info:
        decode_audio(payload)
    assert info.value.code is code
    assert info.value.message


def test_clip_limit_is_configurable() -> None:
    assert len(decode_audio(bytes(2 * 16000 * 11), max_seconds=12)) == 16000 * 11
