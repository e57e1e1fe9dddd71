"""The device's half of voice commands: where the wake word ended (microWakeWord), where the
command after it ends (WebRTC's voice-activity detector), what the hub's verifier is sent, and
how the hub's answer becomes an `intent` event or an `error`. Real espeak-ng clips and models;
the hub is an httpx mock transport here (end to end with a real hub: tests/e2e)."""

import asyncio
import json
import time

import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from contract import ErrorCode, InferResult, IntentEventData, IntentOutput, Topics, decode, encode
from contract.event import Event
from edge_agent.cloud import CloudClient
from edge_agent.config import parse_config
from edge_agent.errors import Rejected
from edge_agent.messages import Outbound
from edge_agent.replies import Replies
from edge_agent.runner import Job
from edge_agent.stats import Stats
from edge_agent.utterance import (
    FRAME_S,
    PAD_S,
    RATE,
    WAKE_AFTER_S,
    WAKE_BEFORE_S,
    CommandRecorder,
    command_after,
    wake_window,
)
from edge_agent.voice_commands import VoiceCommands, intent_types
from edge_agent.voice_config import VoiceCommandsConfig
from models.datasets.speech import phrase_clip
from models.pipelines import load_pipeline
from models.pipelines.wakeword import first_above
from models.processing import voice
from tests.fixtures.requires import require_models, require_tools

WAKE = "wakeword-lite"
COMMAND = "okay nabu, turn on the kitchen light"
CONFIG = VoiceCommandsConfig()


def samples(text: str, duration_s: float = 4.5) -> np.ndarray:
    return voice.decode_audio(phrase_clip(text, duration_s=duration_s).wav)


def test_first_above_is_the_end_of_the_first_step_over_the_cutoff() -> None:
    scores = np.array([0.1, 0.2, 0.9, 0.95, 0.3])
    assert first_above(scores, 0.5, 0.03) == pytest.approx(0.09)
    assert first_above(scores, 0.99, 0.03) is None


def test_the_wake_word_says_where_it_ended() -> None:
    require_tools("espeak-ng")
    require_models(WAKE)
    model = load_pipeline(WAKE)
    alone = model.run(phrase_clip("okay nabu", duration_s=4.5).wav)
    command = model.run(phrase_clip(COMMAND, duration_s=4.5).wav)
    silent = model.run(phrase_clip("what time is it", duration_s=4.5).wav)
    assert [alone.detected, command.detected, silent.detected] == [True, True, False]
    assert alone.end_s is not None
    assert command.end_s is not None
    # lead 0.3 s + "okay nabu" (~0.8 s): it fires at the phrase's end, not at the clip's
    assert 0.6 < alone.end_s < 2.0
    assert command.end_s == pytest.approx(alone.end_s, abs=0.1)  # what follows does not matter
    assert silent.end_s is None


def test_the_command_is_the_speech_after_the_wake_word_up_to_its_pause() -> None:
    require_tools("espeak-ng")
    audio = samples(COMMAND)
    wake_end = 1.29  # where microWakeWord fires on this clip (test above: 0.6-2.0 s)
    found = command_after(audio, wake_end, CONFIG)
    assert found is not None
    assert wake_end <= found.start_s < found.end_s <= len(audio) / RATE
    assert 0.9 < found.speech_s < 2.0  # "turn on the kitchen light"
    # the trailing silence is not sent
    assert found.end_s < len(audio) / RATE - 1.0
    # a second sentence after a pause is not part of the command
    pause = np.zeros(round(1.5 * RATE), np.int16)
    longer = np.concatenate([audio[: round(found.end_s * RATE)], pause, samples("what time is it")])
    again = command_after(longer, wake_end, CONFIG)
    assert again is not None
    assert again.end_s == pytest.approx(found.end_s, abs=0.05)


def test_a_wake_word_said_alone_is_no_command() -> None:
    require_tools("espeak-ng")
    audio = samples("okay nabu")
    assert command_after(audio, 1.29, CONFIG) is None
    assert command_after(np.zeros(RATE * 3, np.int16), 0.5, CONFIG) is None
    # at most max_seconds of speech is taken
    short = VoiceCommandsConfig(max_seconds=0.6, min_speech_s=0.2)
    cut = command_after(samples(COMMAND), 1.29, short)
    assert cut is not None
    assert cut.duration_s <= 0.6 + 1e-9


def test_the_verifier_gets_the_wake_phrase_not_the_command() -> None:
    class Detected:
        detected, end_s = True, 1.3

    long_clip = phrase_clip(COMMAND, duration_s=4.5).wav
    audio = voice.decode_audio(long_clip)
    cut = wake_window(long_clip, Detected())  # raw s16le from the start (1.3 - 2.0 < 0)
    assert cut == audio[: round((1.3 + WAKE_AFTER_S) * RATE)].tobytes()
    Detected.end_s = 2.5
    cut = wake_window(long_clip, Detected())
    lo, hi = round((2.5 - WAKE_BEFORE_S) * RATE), round((2.5 + WAKE_AFTER_S) * RATE)
    assert cut == audio[lo:hi].tobytes()
    short_clip = phrase_clip("okay nabu", duration_s=2.0).wav
    assert wake_window(short_clip, Detected()) == short_clip  # what it was trained on
    assert wake_window(long_clip, object()) == long_clip  # no detection: as is


def test_unknown_or_contradictory_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="silence"):
        VoiceCommandsConfig.model_validate({"silence": 1})
    with pytest.raises(ValidationError, match="min_speech_s"):
        VoiceCommandsConfig(min_speech_s=3, max_seconds=2)
    config = parse_config(
        {"device_id": "d1", "models": [WAKE], "voice_commands": {"enabled": False}}
    )
    assert config.voice_commands.enabled is False


class Hub:
    """What the hub answered and was asked."""

    def __init__(self, status: int = 200, output: IntentOutput | None = None) -> None:
        self.status, self.output = status, output
        self.asked: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        if self.status != 200 or self.output is None:
            return httpx.Response(self.status, json={"error": {"code": "x", "message": "down"}})
        result = InferResult(
            model="voice-command",
            model_version="5.1.1",
            where="cloud",
            latency_ms=40.0,
            msg_id="m1",
            output=self.output.model_dump(mode="json"),
        )
        return httpx.Response(200, content=encode(result))


class Listener:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        cloud = CloudClient("http://hub", "d1", "s", transport=httpx.MockTransport(hub))
        self.published: list[Outbound] = []
        self.rejected: list[tuple[str, Rejected]] = []
        self.stats = Stats()
        self.voice = VoiceCommands(
            CONFIG,
            cloud,
            Replies(Topics(), "d1", "test"),
            self.stats,
            self.published.extend,
            lambda topic, rejected: self.rejected.append((topic, rejected)),
        )

    async def hear(self, payload: bytes, output: dict[str, object]) -> None:
        job = Job(
            WAKE, "r1", "edgefleet/v1/d1/infer/wakeword-lite/r1", payload, time.perf_counter()
        )
        self.voice.heard(job, output)
        tasks = list(self.voice._tasks)
        if tasks:
            await asyncio.gather(*tasks)


DETECTED = {"detected": True, "wake_word": "okay_nabu", "end_s": 1.29}
HEARD = IntentOutput(
    understood=True, intent="turn_on", target="light", area="kitchen",
    text="turn on the kitchen light", score=-3.0, duration_s=1.6,
)  # fmt: skip


async def test_a_command_heard_by_the_hub_is_an_intent_event() -> None:
    require_tools("espeak-ng")
    listener = Listener(Hub(output=HEARD))
    await listener.hear(phrase_clip(COMMAND, duration_s=4.5).wav, DETECTED)
    [asked] = listener.hub.asked
    assert asked.url.path == f"/api/v1/infer/{CONFIG.model}"
    assert asked.url.params["rid"] == "r1"
    assert asked.headers["content-type"] == "audio/L16"
    assert 1.0 < len(asked.content) / 2 / RATE < 2.5  # the command, not the 4.5 s clip
    [out] = listener.published
    assert out.topic == "edgefleet/v1/d1/event/intent"
    event = decode(Event, out.payload)
    data = IntentEventData.model_validate(event.data)
    assert (event.kind, event.rid, event.model) == ("intent", "r1", CONFIG.model)
    assert (data.event_type, data.target, data.area) == ("turn_on", "light", "kitchen")
    assert (data.wake_word, data.wake_rid, data.model_version) == ("okay_nabu", "r1", "5.1.1")
    assert data.event_type in intent_types()
    assert listener.stats.counters["voice.understood"] == 1


async def test_a_command_the_hub_did_not_make_out_is_reported_as_such() -> None:
    require_tools("espeak-ng")
    unheard = HEARD.model_copy(update={"understood": False, "score": -9.0})
    listener = Listener(Hub(output=unheard))
    await listener.hear(phrase_clip(COMMAND, duration_s=4.5).wav, DETECTED)
    data = json.loads(listener.published[0].payload)["data"]
    assert (data["event_type"], data["understood"]) == ("not_understood", False)


async def test_with_the_hub_away_the_command_is_an_error_with_the_wake_words_rid() -> None:
    require_tools("espeak-ng")
    listener = Listener(Hub(status=503))
    await listener.hear(phrase_clip(COMMAND, duration_s=4.5).wav, DETECTED)
    [(topic, rejected)] = listener.rejected
    assert (rejected.code, rejected.rid) == (ErrorCode.HUB_UNAVAILABLE, "r1")
    assert topic.endswith("/infer/wakeword-lite/r1")
    assert "okay_nabu" in str(rejected)
    assert listener.published == []


async def test_only_a_detection_with_speech_after_it_asks_the_hub() -> None:
    require_tools("espeak-ng")
    listener = Listener(Hub(output=HEARD))
    clip = phrase_clip(COMMAND, duration_s=4.5).wav
    await listener.hear(clip, {**DETECTED, "detected": False})
    await listener.hear(clip, {"detected": True, "wake_word": "alexa"})  # no end_s: no command
    await listener.hear(phrase_clip("okay nabu", duration_s=4.5).wav, DETECTED)  # said alone
    assert listener.hub.asked == []
    assert listener.stats.counters["voice.no_command"] == 1


def hops(audio: bytes, hop_s: float = 0.1) -> list[bytes]:
    step = round(hop_s * RATE) * 2
    return [audio[i : i + step] for i in range(0, len(audio), step)]


def test_a_microphone_records_the_command_until_the_speaker_pauses() -> None:
    require_tools("espeak-ng")
    speech = samples("turn on the kitchen light", duration_s=2.0)
    spoken = command_after(speech, 0.0, CONFIG)
    assert spoken is not None
    stream = np.concatenate([speech, np.zeros(RATE * 3, np.int16)]).astype("<i2").tobytes()
    recorder = CommandRecorder(CONFIG)
    fed = 0
    for chunk in hops(stream):
        fed += len(chunk)
        if recorder.feed(chunk):
            break
    ended_s = fed / 2 / RATE
    # it stops one pause after the speech, not at the end of the stream
    assert spoken.end_s - PAD_S + CONFIG.silence_s <= ended_s + FRAME_S
    assert ended_s < spoken.end_s + CONFIG.silence_s + 0.2
    assert command_after(np.frombuffer(bytes(recorder.audio), "<i2"), 0.0, CONFIG) is not None


def test_a_microphone_stops_waiting_when_no_command_comes() -> None:
    silence = bytes(RATE * 2 * 10)
    recorder = CommandRecorder(CONFIG)
    waited = next(i for i, chunk in enumerate(hops(silence), 1) if recorder.feed(chunk))
    assert waited * 0.1 == pytest.approx(CONFIG.wait_s, abs=0.1 + FRAME_S)  # a hop, a frame
    # a command that never pauses is cut at max_seconds
    babble = samples("turn on the kitchen light and the bedroom fan and the office heater", 9.0)
    recorder = CommandRecorder(VoiceCommandsConfig(max_seconds=2.0))
    taken = next(
        i for i, c in enumerate(hops(babble.astype("<i2").tobytes()), 1) if recorder.feed(c)
    )
    assert taken * 0.1 == pytest.approx(2.0, abs=0.1 + FRAME_S)
