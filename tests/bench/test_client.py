"""The benchmarks' MQTT client against a real broker: what counts as a request's answer."""

import json

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgefleet.bench.client import Client
from tests.fixtures.brokers import BrokerProcess

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]


def test_an_error_after_the_result_is_a_follow_up_not_the_answer(
    mosquitto_broker: BrokerProcess,
) -> None:
    """A wake word's result, then the `hub_unavailable` error about the command after it, both
    with the wake word's rid (docs/voice-commands.md): the answer is the result, and the error
    does not come back as an answer. An error alone is a request's answer."""
    bench = Client(mosquitto_broker.port, "bench-client-test")
    agent = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fake-agent")
    agent.connect("127.0.0.1", mosquitto_broker.port)
    agent.loop_start()
    topics = bench.topics
    try:
        result = b'{"output": {"detected": true}}'
        error = {"code": "hub_unavailable", "error": "the spoken command ...", "rid": "r1"}
        refused = {"code": "bad_audio", "error": "half a sample", "rid": "r2"}
        for topic, payload in (
            (topics.result("kitchen", "wakeword-lite", "r1"), result),
            (topics.error("kitchen"), json.dumps(error).encode()),
            (topics.error("kitchen"), json.dumps(refused).encode()),
        ):
            agent.publish(topic, payload, qos=1).wait_for_publish(10)
        assert bench.wait(lambda: {"r1", "r2"} <= set(bench.received), 10)
        assert bench.received["r1"][1] == result
        assert json.loads(bench.received["r2"][1])["code"] == "bad_audio"
    finally:
        agent.loop_stop()
        agent.disconnect()
        bench.close()
