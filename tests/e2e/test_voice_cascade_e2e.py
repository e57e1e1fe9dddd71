"""The voice cascade end to end: a real agent (microWakeWord) asks a real hub (the
`wakeword-cloud` verifier) about what it fired on; the hub's verdict replaces the device's, so a
near miss the device took for its wake word publishes no `wakeword` event, and a real wake
phrase still does; the hub keeps both clips with the two answers as hard samples. Mosquitto,
hub and agent processes; espeak-ng clips."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from contract.http import SAMPLES, path
from edgefleet.procs.wait import wait_until
from models.datasets.speech import load_speech
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.requires import require_models, require_tools
from tests.offload.fleet import T, rid, running_fleet

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto, pytest.mark.timeout(120)]

WAKE = "wakeword-lite"


def test_the_hub_vetoes_a_near_miss_and_confirms_a_wake_word(
    tmp_path: Path, mosquitto_broker: BrokerProcess
) -> None:
    require_tools("espeak-ng")
    require_models(WAKE, "wakeword-cloud")
    clips = load_speech(10, seed=3, data_dir=tmp_path / "speech")
    near_miss, alexa = clips[7], clips[1]  # measured: the device fires on both
    assert (near_miss.spec.phrase, alexa.spec.phrase) == ("hey my car", "alexa")
    offload = {"pipelines": {WAKE: {"mode": "cascade"}}}
    with running_fleet(tmp_path, mosquitto_broker, 1, models=[WAKE], offload=offload) as fleet:
        device = fleet.devices[0]
        answers = []
        for seq, clip in enumerate((near_miss, alexa)):
            fleet.probe.publish(T.infer(device, WAKE, rid(seq)), clip.wav)
            topic = T.result(device, WAKE, rid(seq))
            answers.append(fleet.probe.wait_for(lambda m, t=topic: m.topic == t, 20).json())
        event_topic = T.event(device, "wakeword")
        event = fleet.probe.wait_for(lambda m: m.topic == event_topic, 20).json()
        assert [(a["where"], a["output"]["detected"]) for a in answers] == [
            ("cloud", False),  # vetoed
            ("cloud", True),
        ]
        assert answers[1]["output"]["wake_word"] == "alexa"
        events = [m.json() for m in fleet.probe.messages if m.topic == event_topic]
        assert [e["rid"] for e in events] == [rid(1)], events  # none for the near miss
        assert event["data"]["wake_word"] == "alexa"
        # both clips are kept at the hub with the two answers, to review and train on
        url = fleet.hub.url + path(SAMPLES)

        def samples() -> list[dict[str, Any]]:
            page = httpx.get(url, headers=fleet.hub.admin, params={"limit": 10}, timeout=10)
            items: list[dict[str, Any]] = page.json()["items"]
            return items

        wait_until(lambda: len(samples()) == 2, fleet.hub.proc, timeout=20, what="samples")
        kept = samples()
        by_verdict = {s["cloud_output"]["detected"]: s for s in kept}
        vetoed = by_verdict[False]["edge_output"]
        assert vetoed["wake_word"] == "hey_mycroft"  # the veto
        assert vetoed["probability"] >= 0.9  # the device was sure of its false alarm
        # its confidence is its doubt head's; the verify rule sends a detection whatever it says
        assert answers[0]["edge_confidence"] == pytest.approx(1.0 - vetoed["doubt"])
        assert by_verdict[True]["edge_output"]["wake_word"] == "alexa"
        assert {(s["model"], s["cloud_model"]) for s in kept} == {(WAKE, "wakeword-cloud")}


def test_with_the_hub_down_the_device_answers_and_publishes_its_events(
    tmp_path: Path, mosquitto_broker: BrokerProcess
) -> None:
    """Nothing to verify against: the device's own detections stand (its false alarm too)."""
    require_tools("espeak-ng")
    require_models(WAKE, "wakeword-cloud")
    clips = load_speech(10, seed=3, data_dir=tmp_path / "speech")
    offload = {"pipelines": {WAKE: {"mode": "cascade"}}, "timeout_s": 1.0}
    with running_fleet(tmp_path, mosquitto_broker, 1, models=[WAKE], offload=offload) as fleet:
        device = fleet.devices[0]
        fleet.hub.kill()
        answers = []
        for seq, clip in enumerate((clips[7], clips[1])):
            fleet.probe.publish(T.infer(device, WAKE, rid(seq)), clip.wav)
            topic = T.result(device, WAKE, rid(seq))
            answers.append(fleet.probe.wait_for(lambda m, t=topic: m.topic == t, 20).json())
        event_topic = T.event(device, "wakeword")
        fleet.probe.wait_for(lambda m: m.topic == event_topic and m.json()["rid"] == rid(1), 20)
        assert [(a["where"], a["output"]["wake_word"]) for a in answers] == [
            ("edge", "hey_mycroft"),
            ("edge", "alexa"),
        ]
        events = [m.json()["rid"] for m in fleet.probe.messages if m.topic == event_topic]
        assert events == [rid(0), rid(1)]
