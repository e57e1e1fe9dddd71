"""MQTT behaviour the platform relies on, against both real brokers (amqtt and Mosquitto)."""

import signal
import subprocess
import sys

from contract import Status, Topics, decode, encode
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import ProbeFactory

TOPICS = Topics()


def test_qos1_publish_reaches_subscriber(mqtt_probe: ProbeFactory) -> None:
    subscriber = mqtt_probe(TOPICS.all())
    publisher = mqtt_probe()
    topic = TOPICS.health("dev-1")

    publisher.publish(topic, b'{"n": 1}', qos=1)

    message = subscriber.wait_for(topic)
    assert (message.payload, message.qos, message.retain) == (b'{"n": 1}', 1, False)


def test_qos1_messages_arrive_in_order(mqtt_probe: ProbeFactory) -> None:
    subscriber = mqtt_probe(TOPICS.all())
    publisher = mqtt_probe()
    topic = TOPICS.event("dev-1", "face")

    for n in range(50):
        publisher.publish(topic, str(n), qos=1)

    received = subscriber.wait_for_count(topic, 50)
    assert [m.payload for m in received] == [str(n).encode() for n in range(50)]


def test_retained_message_reaches_late_subscriber(mqtt_probe: ProbeFactory) -> None:
    topic = TOPICS.status("dev-2")
    birth = encode(Status(state="online", agent_version="0.1.0"))
    mqtt_probe().publish(topic, birth, qos=1, retain=True)

    late = mqtt_probe(topic)

    message = late.wait_for(topic)
    assert message.retain
    assert decode(Status, message.payload).state == "online"


def test_last_will_is_published_retained_when_client_is_killed(
    broker: BrokerProcess, mqtt_probe: ProbeFactory
) -> None:
    topic = TOPICS.status("dev-3")
    will = encode(Status(state="offline", agent_version="0.1.0"))
    device = _client_with_will(broker, topic, will)
    device.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker must publish the will
    device.communicate(timeout=10)

    late = mqtt_probe(topic)  # subscribes after the fact: sees the will only if retained

    message = late.wait_for(topic)
    assert message.retain
    assert decode(Status, message.payload).state == "offline"


def test_broker_restart_on_same_port(broker: BrokerProcess, mqtt_probe: ProbeFactory) -> None:
    port = broker.port

    broker.restart(hard=True)

    assert broker.port == port
    subscriber = mqtt_probe(TOPICS.all())
    mqtt_probe().publish(TOPICS.health("dev-4"), b"{}", qos=1)
    subscriber.wait_for(TOPICS.health("dev-4"))


# A device in miniature: connects with a retained Last Will, says so, then idles until killed.
_DEVICE = """
import sys, threading
import paho.mqtt.client as paho
host, port, topic, will = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
client = paho.Client(paho.CallbackAPIVersion.VERSION2, "will-device", protocol=paho.MQTTv311)
client.will_set(topic, will, qos=1, retain=True)
client.on_subscribe = lambda *args: print("subscribed", flush=True)
client.on_connect = lambda c, *args: c.subscribe("edgefleet/v1/dev-3/cmd/+", 1)
client.connect(host, port, keepalive=60)
client.loop_forever()
"""


def _client_with_will(broker: BrokerProcess, topic: str, will: bytes) -> subprocess.Popen[str]:
    """A client process with a retained Last Will, returned once it is connected."""
    device = subprocess.Popen(
        [sys.executable, "-c", _DEVICE, broker.host, str(broker.port), topic, will.decode()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert device.stdout is not None
    first_line = device.stdout.readline()  # blocks until the SUBACK (or the process dies)
    if "subscribed" not in first_line:
        device.kill()
        rest = device.communicate(timeout=10)[0]
        raise AssertionError(f"device client did not connect: {first_line}{rest}")
    return device
