"""`pipelines.<m>.min_score` set through twin/desired on a real `edgefleet agent` process built
the production way (catalogue pipelines behind the model-update wrapper): the agent reports
the new value and its results change (issue #14)."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract import InferResult, Topics, TwinDesired, TwinReported, decode, encode
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe, Received
from tests.fixtures.requires import require_models

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EDGEFLEET = str(Path(sys.executable).with_name("edgefleet"))
DEVICE = "e2e-twin"
FACE = "face-detect-lite"
KEY = f"pipelines.{FACE}.min_score"
T = Topics()
TIMEOUT = 30.0


@pytest.fixture
def astronaut_jpeg() -> bytes:
    import cv2
    from skimage import data

    astronaut: Callable[[], Any] = data.astronaut  # skimage is untyped
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


@pytest.fixture
def agent(
    broker: BrokerProcess, tmp_path: Path, mqtt_probe: Callable[..., MqttProbe]
) -> Iterator[MqttProbe]:
    """`edgefleet agent` (no seam swapped): a probe subscribed to all it publishes."""
    require_models(FACE)
    probe = mqtt_probe(T.all(DEVICE))
    config = tmp_path / "agent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "device_id": DEVICE,
                "models": [FACE],
                "health_interval_s": 60,
                "broker": {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.2},
            }
        )
    )
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [EDGEFLEET, "agent", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "EDGEFLEET_STATE_DIR": str(tmp_path)},
        )
    try:
        try:
            probe.wait_for(
                lambda m: (
                    m.topic == T.status(DEVICE)
                    and m.payload != b""
                    and m.json()["state"] == "online"
                ),
                timeout=TIMEOUT,
            )
        except AssertionError:
            raise AssertionError(f"agent never came online:\n{log.read_text()[-4000:]}") from None
        yield probe
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def infer(probe: MqttProbe, jpeg: bytes, rid: str) -> InferResult:
    probe.publish(T.infer(DEVICE, FACE, rid), jpeg)
    return decode(InferResult, probe.wait_for(T.result(DEVICE, FACE, rid), TIMEOUT).payload)


def reported(probe: MqttProbe, version: int) -> TwinReported:
    def match(m: Received) -> bool:
        return (
            m.topic == T.twin_reported(DEVICE)
            and m.payload != b""
            and m.json()["version"].get("hub") == version
        )

    return decode(TwinReported, probe.wait_for(match, TIMEOUT).payload)


@pytest.mark.parametrize("broker", ["amqtt"], indirect=True)
def test_min_score_from_twin_desired_changes_the_results(
    agent: MqttProbe, astronaut_jpeg: bytes
) -> None:
    before = infer(agent, astronaut_jpeg, "before").output["faces"]
    assert before, "the astronaut's face is found at the catalogue's min_score"
    best = max(face["score"] for face in before)
    strict = round(min(1.0, best + (1.0 - best) / 2), 6)  # above every face found

    agent.publish(
        T.twin_desired(DEVICE),
        encode(TwinDesired(version={"hub": 1}, state={"pipelines": {FACE: {"min_score": strict}}})),
        retain=True,
    )
    report = reported(agent, 1)
    assert report.rejected == {}, report.rejected
    assert report.state[KEY] == strict
    assert infer(agent, astronaut_jpeg, "strict").output["faces"] == []

    agent.publish(
        T.twin_desired(DEVICE),
        encode(TwinDesired(version={"hub": 2}, state={KEY: 0.5})),
        retain=True,
    )
    report = reported(agent, 2)
    assert report.state[KEY] == 0.5
    assert infer(agent, astronaut_jpeg, "again").output["faces"] == before
    agent.publish(T.twin_desired(DEVICE), b"", retain=True)  # leave no retained state behind
