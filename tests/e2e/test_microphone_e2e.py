"""An agent listening to a microphone itself, with no sound card: ALSA's `file` plugin feeds
`arecord` from a named pipe that the test fills in real time with espeak-ng speech (wake
phrases and ordinary sentences, between silences). A real `edgefleet agent` process, Mosquitto,
real wake-word models; the test only listens on MQTT."""

import io
import subprocess
import threading
import wave
from pathlib import Path
from typing import Any

import pytest

from contract import ErrorCode, Topics
from edge_agent.sources.config import MicrophoneConfig
from models.datasets.speech import phrase_clip, wake_clip
from models.files import default_model_dir
from tests.fixtures.agents import AgentStarter, ObservedAgent
from tests.fixtures.contract import assert_follows_contract
from tests.fixtures.mqtt import Received
from tests.fixtures.requires import require_models, require_tools

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto, pytest.mark.slow, pytest.mark.timeout(150)]

T = Topics()
DEVICE = "mic-1"
MIC = "kitchen"
MODEL = "wakeword-lite"
PCM = "edgefleet_mic"
BYTES_PER_S = 32_000  # 16 kHz mono s16le
HOP_S = MicrophoneConfig.model_fields["hop_s"].default
GAP_S = 1.5  # silence after each phrase: its event arrives before the next phrase starts
# (label, phrase, voice): wake phrases of the model's three words, and ordinary sentences
SCRIPT = [
    ("okay_nabu", None, "en-us"),
    (None, "turn on the kitchen lights", "en-us"),
    ("alexa", None, "en-gb"),
    (None, "what time is it", "en-gb"),
    ("hey_mycroft", None, "en-us"),
    (None, "the weather is nice today", "en-us"),
    ("okay_nabu", None, "en-gb-x-rp"),
    (None, "please close the door", "en-gb-x-rp"),
]


def pcm_of(wav: bytes) -> bytes:
    with wave.open(io.BytesIO(wav)) as w:
        return bytes(w.readframes(w.getnframes()))


def speak(pipe: Path, audio: bytes) -> threading.Thread:
    """Write `audio` into the pipe that ALSA's `file` plugin reads (it blocks while the pipe is
    full). The plugin has no clock of its own: the agent hears it as fast as it reads, which
    the microphone source handles like real time (it decides in audio time)."""

    def write() -> None:
        with pipe.open("wb") as out:  # opens once arecord opened its end
            out.write(audio)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def alsa_home(home: Path, pipe: Path) -> Path:
    """A home directory whose ~/.asoundrc defines the PCM `edgefleet_mic`: capture reads the
    pipe (the `file` plugin's infile) instead of a sound card; playback goes nowhere."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".asoundrc").write_text(
        f'pcm.{PCM} {{\n  type file\n  slave.pcm "null"\n  file "/dev/null"\n'
        f'  infile "{pipe}"\n  format "raw"\n}}\n'
    )
    return home


@pytest.fixture
def start_agent(observed_agents: AgentStarter) -> Any:
    def start(device: str, home: Path) -> ObservedAgent:
        require_models(MODEL)
        require_tools("arecord", "espeak-ng")
        env = {
            "EDGEFLEET_MODEL_DIR": str(default_model_dir()),  # not under the new HOME
            "HOME": str(home),  # ALSA reads ~/.asoundrc
        }
        mic = {"name": MIC, "device": device, "model": MODEL}
        return observed_agents.start(DEVICE, (MODEL,), env, microphones=[mic])

    return start


def wake_events(agent: ObservedAgent) -> list[Received]:
    return agent.on(T.event(DEVICE, "wakeword"))


def test_wake_phrases_spoken_into_alsa_raise_one_event_each_and_sentences_none(
    tmp_path: Path, start_agent: Any
) -> None:
    pipe = tmp_path / "mic.raw"
    subprocess.run(["mkfifo", str(pipe)], check=True)
    agent = start_agent(PCM, alsa_home(tmp_path / "home", pipe))
    agent.probe.wait_for(lambda m: m.topic == T.status(DEVICE) and b"online" in m.payload, 30)
    silence = bytes(int(BYTES_PER_S * GAP_S))
    audio = [bytes(BYTES_PER_S)]
    for label, phrase, voice in SCRIPT:
        clip = wake_clip(label, voice=voice) if label else phrase_clip(str(phrase), voice=voice)
        audio += [pcm_of(clip.wav), silence]
    played_s = sum(map(len, audio)) / BYTES_PER_S
    speak(pipe, b"".join(audio)).join(timeout=60)

    def all_heard(m: Received) -> bool:  # every hop read
        hops = m.json()["sources"][MIC]["frames"] if m.topic == T.health(DEVICE) else 0
        return bool(hops * HOP_S >= played_s)

    heard = agent.probe.wait_for(all_heard, 30).json()["sources"][MIC]
    words = [e.json()["data"]["wake_word"] for e in wake_events(agent)]
    expected = [label for label, _, _ in SCRIPT if label]
    print(f"microphone: events {words}; health {heard}")
    # each wake phrase once, in order; no sentence raised one (it would be an extra entry)
    assert words == expected, (words, agent.output())
    assert heard["state"] == "capturing"
    assert heard["kind"] == "microphone"
    assert heard["inferred"] < heard["frames"]  # the silences never reached the model
    assert_follows_contract(agent.probe.messages)


def test_a_missing_alsa_device_is_an_error_and_the_agent_keeps_serving(
    tmp_path: Path, start_agent: Any
) -> None:
    agent = start_agent("no_such_pcm", tmp_path / "home")
    error = agent.probe.wait_for(T.error(DEVICE), 30).json()
    assert error["code"] == ErrorCode.SOURCE_FAILED, error
    assert error["topic"] == f"microphone/{MIC}"
    assert "no_such_pcm" in error["error"], error  # arecord's own words
    clip = wake_clip("alexa")
    agent.probe.publish(T.infer(DEVICE, MODEL, "r1"), clip.wav, qos=1)
    result = agent.probe.wait_for(T.result(DEVICE, MODEL, "r1"), 20).json()
    assert result["output"]["detected"] is True, result
    health = agent.probe.wait_for(
        lambda m: m.topic == T.health(DEVICE) and m.json()["sources"][MIC]["reconnects"] >= 2
    ).json()["sources"][MIC]
    assert health["state"] == "connecting", health
    assert health["frames"] == 0, health
