"""An agent listening to a microphone itself, with no sound card: ALSA's `file` plugin feeds
`arecord` from a file of espeak-ng speech (wake phrases and ordinary sentences, between
silences) that the test writes before the agent starts. A real `edgefleet agent` process,
Mosquitto, real wake-word models; the test only listens on MQTT.

Why a file and not a named pipe: the plugin fills each period it captures with one `read()`
of its infile and takes a short read as a whole period, so audio through a pipe arrives with
gaps and repeated periods wherever the writer lagged, which depends on the machine's load (a
"hey mycroft" was lost that way in CI). A regular file is read exactly; at its end the plugin
repeats its last period forever, so every recording here ends in silence."""

import io
import wave
from pathlib import Path
from typing import Any

import pytest

from contract import ErrorCode, Topics
from edge_agent.sources.config import MicrophoneConfig
from edgefleet.procs import HubProcess, stop_process
from models.datasets.speech import phrase_clip, wake_clip
from models.files import default_model_dir
from tests.fixtures.agents import AgentStarter, ObservedAgent
from tests.fixtures.brokers import BrokerProcess
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
RECOGNISED_S = 60.0  # the flow is under test, not the recogniser's speed: Whisper took 11 s
# on this 2-core machine with two busy loops beside it (the agent's default wait is 10 s)
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


def alsa_home(home: Path, audio: bytes) -> Path:
    """A home directory whose ~/.asoundrc defines the PCM `edgefleet_mic`: capture reads
    `audio` (raw s16le, written to the `file` plugin's infile) instead of a sound card, then
    a second of silence; playback goes nowhere. The plugin has no clock of its own: the agent
    hears it as fast as it reads, which the microphone source handles like real time (it
    decides in audio time)."""
    home.mkdir(parents=True, exist_ok=True)
    infile = home / "microphone.raw"
    infile.write_bytes(audio + bytes(BYTES_PER_S))  # its last period repeats: silence
    (home / ".asoundrc").write_text(
        f'pcm.{PCM} {{\n  type file\n  slave.pcm "null"\n  file "/dev/null"\n'
        f'  infile "{infile}"\n  format "raw"\n}}\n'
    )
    return home


@pytest.fixture
def start_agent(observed_agents: AgentStarter) -> Any:
    require_models(MODEL)
    require_tools("arecord", "espeak-ng")

    def start(device: str, home: Path) -> ObservedAgent:
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
    silence = bytes(int(BYTES_PER_S * GAP_S))
    audio = [bytes(BYTES_PER_S)]
    for label, phrase, voice in SCRIPT:
        clip = wake_clip(label, voice=voice) if label else phrase_clip(str(phrase), voice=voice)
        audio += [pcm_of(clip.wav), silence]
    played_s = sum(map(len, audio)) / BYTES_PER_S
    agent = start_agent(PCM, alsa_home(tmp_path / "home", b"".join(audio)))

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
    # SIGTERM stops it cleanly: arecord's pipe to the agent, paused while full, used to hold the
    # microphone task past the agent's 5 s stop and the process until it was killed
    assert stop_process(agent.proc) == 0, agent.output()
    assert "did not stop" not in agent.output()


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


def test_a_command_spoken_after_the_wake_word_reaches_the_hub_as_an_intent(
    tmp_path: Path, observed_agents: AgentStarter, mosquitto_broker: BrokerProcess
) -> None:
    """The microphone keeps listening after its wake word until the speaker pauses, and sends
    that to the hub's recogniser; a wake word said alone asks the hub nothing."""
    require_models(MODEL, "voice-command-whisper")
    require_tools("arecord", "espeak-ng")
    whisper = ("voice-command-whisper",)
    hub = HubProcess(tmp_path / "hub", mosquitto_broker.port, cloud_models=whisper)
    hub.start(models_loaded=True)  # the agent hears the command as soon as it starts
    try:
        secret = hub.create_device(DEVICE)
        silence = bytes(BYTES_PER_S * 2)
        command = phrase_clip("okay nabu, turn on the kitchen light", duration_s=3.5)
        audio = [bytes(BYTES_PER_S), pcm_of(command.wav), silence, pcm_of(wake_clip("alexa").wav)]
        home = alsa_home(tmp_path / "home", b"".join([*audio, silence]))
        env = {"EDGEFLEET_MODEL_DIR": str(default_model_dir()), "HOME": str(home)}
        mic = {"name": MIC, "device": PCM, "model": MODEL}
        agent = observed_agents.start(
            DEVICE,
            (MODEL,),
            env,
            microphones=[mic],
            secret=secret,
            hub_url=hub.url,
            voice_commands={"timeout_s": RECOGNISED_S},
        )
        intent = agent.probe.wait_for(T.event(DEVICE, "intent"), RECOGNISED_S).json()

        data = intent["data"]
        assert (data["event_type"], data["target"], data["area"]) == ("turn_on", "light", "kitchen")
        assert data["wake_word"] == "okay_nabu"
        assert 0.8 < data["command_s"] < 3.0  # the command: not the silence after it

        def said_alexa(m: Received) -> bool:
            return m.topic == T.event(DEVICE, "wakeword") and b"alexa" in m.payload

        agent.probe.wait_for(said_alexa, 30)
        counted = agent.probe.wait_for(
            lambda m: (
                m.topic == T.health(DEVICE) and m.json()["counters"].get("voice.no_command", 0) >= 1
            ),
            30,
        ).json()["counters"]
        assert counted["voice.commands"] == 1  # "alexa" alone asked the hub nothing
        assert len(agent.on(T.event(DEVICE, "intent"))) == 1
        assert_follows_contract(agent.probe.messages)
    finally:
        hub.terminate()
