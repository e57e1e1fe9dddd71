"""`edgefleet agent` as a real process against real brokers (amqtt and Mosquitto), fed by a real
third-party client (`mosquitto_pub`) and observed with `MqttProbe`."""

import os
import shutil
import signal
import subprocess
import sys
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from contract import ContractError, ErrorMessage, InferResult, Kind, Status, Topics, decode
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.contract import assert_follows_contract
from tests.fixtures.mqtt import MqttProbe, Received
from tests.fixtures.requires import require_tools

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
]

EDGEFLEET = str(Path(sys.executable).with_name("edgefleet"))
DEVICE = "e2e-agent"
T = Topics()
FACE, WAKE = "face-detect-lite", "wakeword-lite"
MAX_PAYLOAD = 300_000
TIMEOUT = 20.0


@dataclass
class RunningAgent:
    proc: subprocess.Popen[bytes]
    log: Path
    probe: MqttProbe  # subscribed to everything the device publishes and the sensor topic

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def is_status(state: str) -> Callable[[Received], bool]:
    return lambda m: m.topic == T.status(DEVICE) and m.payload != b"" and m.json()["state"] == state


@pytest.fixture
def astronaut_jpeg(tmp_path: Path) -> Path:
    import cv2
    from skimage import data

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    assert ok
    path = tmp_path / "astronaut.jpg"
    path.write_bytes(buf.tobytes())
    return path


def speech_wav(tmp_path: Path, phrase: str) -> Path:
    """espeak-ng -> WAV -> 16 kHz mono s16 WAV with a little silence around it."""
    from scipy.signal import resample_poly

    if shutil.which("espeak-ng") is None:
        require_tools("espeak-ng")
    raw = tmp_path / "espeak.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-w", str(raw), phrase],
        check=True,
        capture_output=True,
        timeout=30,
    )
    with wave.open(str(raw)) as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    x = np.frombuffer(frames, dtype="<i2").astype(np.float32)
    g = np.gcd(rate, 16000)
    y = resample_poly(x, 16000 // g, rate // g)
    pad = np.zeros(8000)
    samples = np.clip(np.round(np.concatenate([pad, y, pad])), -32768, 32767).astype("<i2")
    out = tmp_path / f"{phrase.replace(' ', '_')}.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(samples.tobytes())
    return out


def write_config(tmp_path: Path, broker: BrokerProcess, extra: dict[str, Any]) -> Path:
    broker_settings = {
        "host": broker.host,
        "port": broker.port,
        "keepalive": 10,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 2,
        **extra.get("broker", {}),
    }
    config = {
        "device_id": DEVICE,
        "models": [FACE, WAKE],
        "sensors": [{"topic": "cameras/+/jpeg", "model": FACE, "content_type": "image/jpeg"}],
        "max_payload_bytes": MAX_PAYLOAD,
        "health_interval_s": 1,
        **extra,
        "broker": broker_settings,
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def agent_settings() -> dict[str, Any]:
    """Extra agent config keys; a test overrides it with `parametrize("agent_settings", ...)`."""
    return {}


@pytest.fixture
def agent(
    broker: BrokerProcess,
    tmp_path: Path,
    mqtt_probe: Callable[..., MqttProbe],
    agent_settings: dict[str, Any],
) -> Iterator[RunningAgent]:
    """A started agent whose retained `online` status has been seen."""
    probe = mqtt_probe(T.all(DEVICE))
    config = write_config(tmp_path, broker, agent_settings)
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [EDGEFLEET, "agent", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            # its own outbox: one left in ~/.local/state by an earlier run would be sent here
            env={**os.environ, "PYTHONUNBUFFERED": "1", "EDGEFLEET_STATE_DIR": str(tmp_path)},
        )
    running = RunningAgent(proc, log, probe)
    try:
        probe.wait_for(is_status("online"), timeout=TIMEOUT)
    except AssertionError:
        proc.kill()
        raise AssertionError(f"agent never came online; its output:\n{running.output()}") from None
    yield running
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    # Every message the agent published during the test follows the committed JSON Schemas
    # (commands are the hub's to get right: a test may send a wrong one on purpose).
    assert_follows_contract(
        m for m in probe.messages if not m.topic.startswith("cameras/") and not is_command(m)
    )


def is_command(message: Received) -> bool:
    try:
        return T.parse(message.topic).kind is Kind.CMD
    except ContractError:
        return False


def result_of(probe: MqttProbe, topic: str) -> InferResult:
    return decode(InferResult, probe.wait_for(topic, timeout=TIMEOUT).payload)


def error_for(probe: MqttProbe, topic: str) -> ErrorMessage:
    found = probe.wait_for(
        lambda m: m.topic == T.error(DEVICE) and m.json()["topic"] == topic, timeout=TIMEOUT
    )
    return decode(ErrorMessage, found.payload)


def test_face_from_mosquitto_pub_matches_known_box(
    agent: RunningAgent, broker: BrokerProcess, astronaut_jpeg: Path
) -> None:
    from models.datasets.faces import SOURCES

    broker.mosquitto_pub(T.infer(DEVICE, FACE, "r1"), astronaut_jpeg)
    result = result_of(agent.probe, T.result(DEVICE, FACE, "r1"))
    assert (result.model, result.where, result.rid) == (FACE, "edge", "r1")
    assert result.source_topic == T.infer(DEVICE, FACE, "r1")
    assert result.latency_ms > 0
    best = max(result.output["faces"], key=lambda f: f["score"])
    assert iou(tuple(best["box"]), SOURCES["astronaut"].face) >= 0.5
    event = agent.probe.wait_for(T.event(DEVICE, "face"), timeout=TIMEOUT).json()
    assert (event["rid"], event["data"]["result_msg_id"]) == ("r1", result.msg_id)


def test_wakeword_positive_and_negative(
    agent: RunningAgent, broker: BrokerProcess, tmp_path: Path
) -> None:
    broker.mosquitto_pub(T.infer(DEVICE, WAKE, "yes"), speech_wav(tmp_path, "okay nabu"))
    broker.mosquitto_pub(T.infer(DEVICE, WAKE, "no"), speech_wav(tmp_path, "what time is it"))
    positive = result_of(agent.probe, T.result(DEVICE, WAKE, "yes"))
    negative = result_of(agent.probe, T.result(DEVICE, WAKE, "no"))
    assert positive.output["detected"] is True
    assert positive.output["wake_word"] == "okay_nabu"
    assert negative.output["detected"] is False
    event = agent.probe.wait_for(T.event(DEVICE, "wakeword"), timeout=TIMEOUT).json()
    assert event["rid"] == "yes"


def test_bad_inputs_get_errors_and_agent_keeps_serving(
    agent: RunningAgent, broker: BrokerProcess, tmp_path: Path, astronaut_jpeg: Path
) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(os.urandom(1001))  # odd length: not s16le either
    oversize = tmp_path / "oversize.bin"
    oversize.write_bytes(b"\xff" * (MAX_PAYLOAD + 1))
    odd_rate = tmp_path / "8k.wav"
    with wave.open(str(odd_rate), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(16000))
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(odd_rate.read_bytes()[:30])
    cases = [
        (T.infer(DEVICE, FACE, "g1"), garbage, "bad_image"),
        (T.infer(DEVICE, WAKE, "g2"), garbage, "bad_audio"),
        (T.infer(DEVICE, WAKE, "g5"), odd_rate, "bad_audio"),
        (T.infer(DEVICE, WAKE, "g6"), truncated, "bad_audio"),
        (T.infer(DEVICE, FACE, "g7"), truncated, "bad_image"),
        (T.infer(DEVICE, FACE, "g3"), oversize, "too_large"),
        (T.infer(DEVICE, "no-such-model", "g4"), astronaut_jpeg, "unknown_model"),
    ]
    for topic, file, _ in cases:
        broker.mosquitto_pub(topic, file)
    for topic, _, code in cases:
        error = error_for(agent.probe, topic)
        assert error.code.value == code, error
        assert error.rid == topic.rsplit("/", 1)[1]
    broker.mosquitto_pub(T.infer(DEVICE, FACE, "after"), astronaut_jpeg)
    assert result_of(agent.probe, T.result(DEVICE, FACE, "after")).output["faces"]
    n = len(cases)
    health = agent.probe.wait_for(
        lambda m: m.topic == T.health(DEVICE) and m.json()["counters"].get("errors", 0) >= n,
        timeout=TIMEOUT,
    ).json()
    for _, _, code in cases:
        assert health["counters"][f"errors.{code}"] >= 1
    assert agent.proc.poll() is None


def test_sensor_topic_result_under_own_topic(
    agent: RunningAgent, broker: BrokerProcess, astronaut_jpeg: Path
) -> None:
    broker.mosquitto_pub("cameras/door/jpeg", astronaut_jpeg)
    result = result_of(agent.probe, T.result(DEVICE, FACE))
    assert result.source_topic == "cameras/door/jpeg"
    assert result.rid is None
    assert result.output["faces"]


def test_sigkill_leaves_retained_offline_for_new_subscriber(
    agent: RunningAgent, mqtt_probe: Callable[..., MqttProbe]
) -> None:
    agent.proc.kill()  # no clean shutdown: only the broker's Last Will can say offline
    agent.proc.wait(10)
    agent.probe.wait_for(is_status("offline"), timeout=TIMEOUT)
    late = mqtt_probe(T.status(DEVICE))
    found = late.wait_for(is_status("offline"), timeout=TIMEOUT)
    assert found.retain
    assert decode(Status, found.payload).models == [FACE, WAKE]


def test_sigterm_publishes_offline_and_exits_zero(
    agent: RunningAgent, mqtt_probe: Callable[..., MqttProbe]
) -> None:
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(10) == 0
    late = mqtt_probe(T.status(DEVICE))
    assert late.wait_for(is_status("offline"), timeout=TIMEOUT).retain


def test_reconnects_and_resubscribes_after_broker_restart(
    agent: RunningAgent,
    broker: BrokerProcess,
    astronaut_jpeg: Path,
    mqtt_probe: Callable[..., MqttProbe],
) -> None:
    broker.restart(hard=True)  # SIGKILL, then the same port again
    probe = mqtt_probe(T.all(DEVICE))
    # A heartbeat after the restart means the agent has reconnected (it subscribes first).
    probe.wait_for(T.health(DEVICE), timeout=TIMEOUT)
    broker.mosquitto_pub(T.infer(DEVICE, FACE, "again"), astronaut_jpeg)
    assert result_of(probe, T.result(DEVICE, FACE, "again")).output["faces"]
    assert agent.proc.poll() is None


@pytest.mark.parametrize("broker", ["mosquitto"], indirect=True)  # amqtt 0.12 refuses MQTT 5
@pytest.mark.parametrize("agent_settings", [{"broker": {"protocol": "5"}}])
def test_mqtt5_response_topic_and_correlation_data(
    agent: RunningAgent, broker: BrokerProcess, astronaut_jpeg: Path
) -> None:
    """With `protocol: "5"` the agent also answers a request's response topic, echoing its
    correlation data (Mosquitto only: amqtt 0.12 refuses MQTT 5)."""
    import threading

    import paho.mqtt.client as paho
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    replies: list[tuple[str, bytes | None]] = []
    arrived = threading.Event()

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        replies.append((msg.topic, getattr(msg.properties, "CorrelationData", None)))
        arrived.set()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.subscribe("integrator/replies", qos=1)  # ordered before the publish below
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "integrator/replies"
        props.CorrelationData = b"corr-42"
        client.publish(
            T.infer(DEVICE, FACE, "v5"), astronaut_jpeg.read_bytes(), qos=1, properties=props
        ).wait_for_publish(TIMEOUT)
        assert arrived.wait(TIMEOUT)
    finally:
        client.disconnect()
        client.loop_stop()
    assert replies[0] == ("integrator/replies", b"corr-42")
    assert result_of(agent.probe, T.result(DEVICE, FACE, "v5")).rid == "v5"
