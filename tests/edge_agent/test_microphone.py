"""Microphones read by the agent: configuration, the sound level, and a capture command that
cannot run. (End to end through ALSA with a real agent: tests/e2e/test_microphone_e2e.py.)"""

import asyncio
import contextlib
from typing import Any

import numpy as np
import pytest

from contract import ErrorCode, SourceState
from edge_agent.config import check_models, parse_config
from edge_agent.errors import ConfigError, Rejected
from edge_agent.sources import microphone
from edge_agent.sources.config import MicrophoneConfig
from edge_agent.sources.microphone import MicrophoneSource, level_dbfs

BASE: dict[str, Any] = {"device_id": "mic-01", "models": ["wakeword-lite", "face-detect-lite"]}


def mic(**fields: Any) -> dict[str, Any]:
    return {"name": "kitchen", "model": "wakeword-lite"} | fields


def test_defaults_and_a_good_microphone() -> None:
    config = parse_config(BASE | {"microphones": [mic(device="plughw:1,0")]})
    (m,) = config.microphones
    assert (m.device, m.window_s, m.hop_s, m.min_level_dbfs) == ("plughw:1,0", 2.0, 0.1, -50.0)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"hop_s": 3.0}, "hop_s (3.0) is longer than window_s (2.0)"),
        ({"device": "-D hw:0"}, "invalid ALSA device"),
        ({"name": "living room"}, "invalid microphone name"),
        ({"model": "engine-fault"}, "not one of models"),
        ({"min_level_dbfs": 3}, "microphones.0.min_level_dbfs"),
        ({"gain": 2}, "microphones.0.gain"),
    ],
)
def test_bad_microphones_are_refused_naming_the_setting(change: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE | {"microphones": [mic(**change)]}, "agent.yaml")
    assert words in str(info.value)


def test_source_names_are_unique_across_cameras_and_microphones() -> None:
    camera = {"name": "kitchen", "url": "rtsp://cam/s", "model": "face-detect-lite"}
    with pytest.raises(ConfigError, match="names must differ"):
        parse_config(BASE | {"microphones": [mic()], "cameras": [camera]})


def test_a_microphone_needs_a_wake_word_model_from_the_catalogue() -> None:
    config = parse_config(BASE | {"microphones": [mic(model="face-detect-lite")]})
    with pytest.raises(ConfigError, match=r"microphones\.0\.model: 'face-detect-lite' is a face"):
        check_models(config)


def test_level_in_dbfs() -> None:
    full = (np.full(1600, 32767, "<i2")).tobytes()
    assert level_dbfs(full) == pytest.approx(0.0, abs=0.01)
    quiet = (np.full(1600, 33, "<i2")).tobytes()
    assert level_dbfs(quiet) == pytest.approx(-60.0, abs=0.1)
    assert level_dbfs(bytes(3200)) == -120.0


async def test_a_capture_command_that_cannot_run_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(microphone, "arecord_command", lambda device: ["/nonexistent/arecord"])
    errors: list[tuple[str, Rejected]] = []
    source = MicrophoneSource(
        MicrophoneConfig(name="kitchen", model="m"),
        submit=lambda job: None,
        reject=lambda topic, rejected: errors.append((topic, rejected)),
    )
    second_failure = asyncio.Event()
    failing = source.failing

    def counted(failed: BaseException | None, where: str = "") -> str:
        message = failing(failed, where)
        if source.counters.reconnects >= 2:
            second_failure.set()
        return message

    monkeypatch.setattr(source, "failing", counted)
    task = asyncio.create_task(source.run())
    try:
        async with asyncio.timeout(10):
            await second_failure.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert len(errors) == 1  # the same failure, reported once
    topic, rejected = errors[0]
    assert (topic, rejected.code) == ("microphone/kitchen", ErrorCode.SOURCE_FAILED)
    assert "install alsa-utils" in str(rejected)
    assert source.health().state is SourceState.CONNECTING
