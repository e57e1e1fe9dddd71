"""Voice commands end to end: a clip "okay nabu, turn on the kitchen light" published with
`mosquitto_pub` to a real agent (microWakeWord, cascade to the hub's verifier) yields the
device's `wakeword` event and an `intent` event from the hub's recogniser, both valid against
the committed JSON Schemas; a near miss the hub vetoes yields neither; with the hub down the
device still publishes its result and wake-word event, and says on `error` that the command
could not be heard. Mosquitto, hub and agent processes; espeak-ng clips."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from models.datasets.speech import phrase_clip
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import Received
from tests.fixtures.requires import require_models, require_tools
from tests.offload.fleet import Fleet, T, rid, running_fleet

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto, pytest.mark.slow, pytest.mark.timeout(120)]

WAKE = "wakeword-lite"
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
HUB_MODELS = ("voice-command-whisper",)
CASCADE = {"pipelines": {WAKE: {"mode": "cascade"}}, "timeout_s": 2.0}


def valid(message: Received, schema: str) -> dict[str, Any]:
    """The message's JSON, checked against a committed schema."""
    document = json.loads((SCHEMAS / schema).read_text(encoding="utf-8"))
    body: dict[str, Any] = message.json()
    jsonschema.validate(body, document)
    return body


@pytest.fixture
def fleet(tmp_path: Path, mosquitto_broker: BrokerProcess) -> Iterator[Fleet]:
    """A hub serving `voice-command` too, and one agent with its wake word in cascade."""
    require_tools("espeak-ng", "mosquitto_pub")
    require_models(WAKE, "wakeword-cloud", "voice-command-whisper")
    with running_fleet(
        tmp_path, mosquitto_broker, 1, HUB_MODELS, models=[WAKE], offload=CASCADE
    ) as running:
        yield running


def clip_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / (text.replace(" ", "_").replace(",", "") + ".wav")
    path.write_bytes(phrase_clip(text, voice="en-us", duration_s=4.5, data_dir=tmp_path).wav)
    return path


def test_a_spoken_command_after_the_wake_word_becomes_an_intent_event(
    tmp_path: Path, mosquitto_broker: BrokerProcess, fleet: Fleet
) -> None:
    command = clip_file(tmp_path, "okay nabu, turn on the kitchen light")
    near_miss = clip_file(tmp_path, "hey my car, turn on the kitchen light")
    device, probe = fleet.devices[0], fleet.probe
    mosquitto_broker.mosquitto_pub(T.infer(device, WAKE, rid(0)), near_miss)
    mosquitto_broker.mosquitto_pub(T.infer(device, WAKE, rid(1)), command)
    intent_topic, wake_topic = T.event(device, "intent"), T.event(device, "wakeword")
    intent = valid(probe.wait_for(lambda m: m.topic == intent_topic, 30), "event.json")
    jsonschema.validate(
        intent["data"],
        json.loads((SCHEMAS / "intent-event-data.json").read_text(encoding="utf-8")),
    )
    assert intent["kind"] == "intent"
    assert intent["rid"] == rid(1)
    data = intent["data"]
    assert (data["event_type"], data["target"], data["area"]) == ("turn_on", "light", "kitchen")
    assert data["understood"] is True
    assert data["wake_word"] == "okay_nabu"
    assert "kitchen" in data["text"]
    assert 0.5 < data["command_s"] < 3.0  # the command alone: not the wake word, not silence
    # the two clips are answered in parallel: the near miss may be answered last
    topics = [T.result(device, WAKE, rid(n)) for n in (0, 1)]
    results = [probe.wait_for(lambda m, t=t: m.topic == t, 30).json() for t in topics]
    assert results[1]["output"]["detected"] is True
    assert results[1]["output"]["end_s"] < 2.0  # where the wake phrase ended
    wake_events = [valid(m, "event.json") for m in probe.messages if m.topic == wake_topic]
    assert [e["rid"] for e in wake_events] == [rid(1)]
    # the near miss: the hub's verifier vetoed it, so there was no command to hear
    assert results[0]["output"]["detected"] is False
    intents = [m.json()["rid"] for m in probe.messages if m.topic == intent_topic]
    assert intents == [rid(1)]


def test_with_the_hub_down_the_wake_word_stands_and_the_command_is_reported_unheard(
    tmp_path: Path, mosquitto_broker: BrokerProcess, fleet: Fleet
) -> None:
    command = clip_file(tmp_path, "okay nabu, turn on the kitchen light")
    device, probe = fleet.devices[0], fleet.probe
    fleet.hub.kill()
    mosquitto_broker.mosquitto_pub(T.infer(device, WAKE, rid(0)), command)
    error_topic = T.error(device)
    error = valid(probe.wait_for(lambda m: m.topic == error_topic, 30), "error-message.json")
    assert (error["code"], error["rid"]) == ("hub_unavailable", rid(0))
    assert "okay_nabu" in error["error"]
    result = probe.wait_for(lambda m: m.topic == T.result(device, WAKE, rid(0)), 10).json()
    assert (result["where"], result["output"]["wake_word"]) == ("edge", "okay_nabu")
    wake = probe.wait_for(lambda m: m.topic == T.event(device, "wakeword"), 10)
    assert valid(wake, "event.json")["rid"] == rid(0)
    assert not [m for m in probe.messages if m.topic == T.event(device, "intent")]
