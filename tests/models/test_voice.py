"""Audio decoding: WAV or raw s16le at 16 kHz mono; everything else is a clear InputError."""

import io
import tracemalloc
import wave

import numpy as np
import pytest

from contract.errors import ErrorCode
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


def _declaring(data_bytes: int) -> bytes:
    """A 16 kHz mono 16-bit WAV whose data chunk claims `data_bytes` but holds 64."""
    wav = _wav(frames=32)
    return wav[:40] + data_bytes.to_bytes(4, "little") + wav[44:]


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
        (_declaring(0xFFFF_FFF0), ErrorCode.BAD_AUDIO),  # 4 GB promised, 64 bytes held
        (_wav()[:36] + b"LIST\xff\xff\xff\x7f", ErrorCode.BAD_AUDIO),  # chunk past the end
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
        "gigabytes",
        "chunk-overrun",
    ],
)
def test_bad_audio(payload: bytes, code: ErrorCode) -> None:
    with pytest.raises(InputError) as info:
        decode_audio(payload)
    assert info.value.code is code
    assert info.value.message


def test_a_header_declaring_gigabytes_allocates_nothing_like_it() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="truncated WAV"):
            decode_audio(_declaring(0xFFFF_FFF0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_clip_limit_is_configurable() -> None:
    assert len(decode_audio(bytes(2 * 16000 * 11), max_seconds=12)) == 16000 * 11
