"""Nothing leaked through retained messages or someone else's session; nothing lost by it.

amqtt 0.12.1 sent a connecting client the retained messages of every filter in its table, and
never asked the ACL about retained messages: devices, integrators and anonymous clients got
other devices' retained `twin/desired`. It also let any identity connect with a device's
client id, taking its offline session (and queued commands) or cutting it off. The same
scenarios run on Mosquitto with dynsec, asserting what Mosquitto really does. There no one
but a device may use a device's client id because every account is pinned to its own client
id (broker/dynsec.py: the hub to `edgefleet-hub`, an integrator to its name, a device to its
id), so the takeover tests assert the same on both brokers.

When nothing more is due: on CONNECT, retained and queued messages are written before the
broker reads the next packet, and on SUBSCRIBE before the next SUBSCRIBE is answered, on both
brokers; so the SUBACK of a later SUBSCRIBE (`Client.fence`) proves nothing else is coming.
"""

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from broker.acl import Account, AccountKind
from broker.credentials import (
    CredentialsFile,
    FileEntry,
    StaticCredentials,
    hash_secret,
    new_secret,
)
from broker.dynsec import DynsecAdmin
from broker.server import running_broker
from broker.settings import BrokerSettings
from contract import Kind, Topics
from tests.fixtures.brokers import Creds, SecuredBroker

pytestmark = pytest.mark.timeout(60)

T = Topics()
A, B = "dev-a", "dev-b"
TIMEOUT = 15.0
WIDE = "edgefleet/v1/#"
RETAINED = {
    T.twin_desired(A): b"wifi-key-a",  # what operators put there: readable by dev-a and the hub
    T.twin_desired(B): b"wifi-key-b",
    T.twin_reported(B): b"reported-b",  # the hub's only
    T.status(A): b"online-a",  # public: integrators and anonymous clients may read it
}


class Client:
    """One paho MQTT 3.1.1 connection, recording its CONNACK, messages, SUBACKs and its end.

    It never reconnects by itself, so a broker closing it shows as `disconnected`.
    """

    def __init__(
        self, host: str, port: int, creds: Creds | None, client_id: str, clean: bool
    ) -> None:
        self.client_id = client_id
        self._cond = threading.Condition()
        self.messages: list[tuple[str, bytes]] = []
        self._subacks: dict[int, list[bool]] = {}
        self._connack: ReasonCode | None = None
        self._disconnected = False
        self._paho = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
            protocol=paho.MQTTv311, reconnect_on_failure=False,
        )  # fmt: skip
        if creds is not None:
            self._paho.username_pw_set(*creds)
        self._paho.on_connect = self._on_connect
        self._paho.on_message = self._on_message
        self._paho.on_subscribe = self._on_subscribe
        self._paho.on_disconnect = self._on_disconnect
        self._paho.connect(host, port, keepalive=30)
        self._paho.loop_start()
        self._wait(lambda: self._connack is not None, "CONNACK")

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._connack = rc
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, msg.payload))
            self._cond.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        with self._cond:
            self._subacks[mid] = [not code.is_failure for code in codes]
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        with self._cond:
            self._disconnected = True
            self._cond.notify_all()

    def _wait(self, condition: Callable[[], bool], what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(condition, TIMEOUT):
                raise AssertionError(f"{self.client_id}: no {what}; got {self.messages}")

    @property
    def accepted(self) -> bool:
        return self._connack is not None and not self._connack.is_failure

    @property
    def disconnected(self) -> bool:
        with self._cond:
            return self._disconnected

    def subscribe(self, *filters: str) -> list[bool]:
        """Subscribe in one packet; whether the broker granted each filter."""
        _, mid = self._paho.subscribe([(f, 1) for f in filters])
        self._wait(lambda: mid in self._subacks, f"SUBACK for {filters}")
        return self._subacks[mid]

    def fence(self) -> None:
        """Return once everything the broker owed before this SUBSCRIBE has arrived."""
        self.subscribe("fence/none")

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self._paho.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published(), f"{self.client_id}: publish to {topic} not acknowledged"

    def wait_for(self, payload: bytes) -> None:
        self._wait(lambda: any(p == payload for _, p in self.messages), f"message {payload!r}")

    def wait_disconnected(self) -> None:
        self._wait(lambda: self._disconnected, "disconnection")

    def topics(self) -> set[str]:
        with self._cond:
            return {topic for topic, _ in self.messages}

    def payloads(self) -> set[bytes]:
        with self._cond:
            return {payload for _, payload in self.messages}

    def close(self) -> None:
        self._paho.disconnect()
        self._paho.loop_stop()
        self._paho._reset_sockets()  # no ResourceWarning (pytest turns warnings into errors)


@dataclass
class Fleet:
    """Devices A and B, integrator `acme` and the hub on one broker, RETAINED published while
    `hub-watch` holds a wide subscription (so amqtt's table had a filter matching them all).

    `hub` is the hub account connected under its own (on Mosquitto: pinned) client id; other
    hub-rights connections use accounts of their own (`add_hubs`), as the hub's replicas do.
    """

    broker: SecuredBroker
    creds: dict[str, Creds]
    hub: Client
    clients: list[Client] = field(default_factory=list)

    def connect(self, who: str | None, client_id: str, *, clean: bool = True) -> Client:
        creds = None if who is None else self.creds[who]
        client = Client(self.broker.host, self.broker.port, creds, client_id, clean)
        self.clients.append(client)
        return client

    @property
    def amqtt(self) -> bool:
        return self.broker.name == "amqtt"


def _fleet(broker: SecuredBroker) -> Iterator[Fleet]:
    creds: dict[str, Creds] = {"hub": broker.hub}
    creds |= {d: (d, pw) for d, pw in broker.add_devices([A, B]).items()}
    creds["integrator"] = ("acme", broker.add_integrators(["acme"])["acme"])
    creds |= broker.add_hubs(["hub-watch", "hub-reader"])
    hub = Client(broker.host, broker.port, broker.hub, broker.hub_client_id, True)
    fleet = Fleet(broker, creds, hub)
    fleet.clients.append(fleet.hub)
    watch = fleet.connect("hub-watch", "hub-watch")
    assert watch.subscribe(WIDE) == [True]
    for topic, payload in RETAINED.items():
        fleet.hub.publish(topic, payload, retain=True)
    for payload in RETAINED.values():
        watch.wait_for(payload)  # the broker holds every retained message now
    yield fleet
    for client in fleet.clients:
        client.close()


@pytest.fixture
def fleet(secured_broker: SecuredBroker) -> Iterator[Fleet]:
    yield from _fleet(secured_broker)


@pytest.fixture
def demo_fleet(demo_amqtt_broker: SecuredBroker) -> Iterator[Fleet]:
    yield from _fleet(demo_amqtt_broker)


@pytest.fixture
def mosquitto_fleet(dynsec_mosquitto_broker: SecuredBroker) -> Iterator[Fleet]:
    yield from _fleet(dynsec_mosquitto_broker)


# --- retained messages --------------------------------------------------------------------


def test_connect_sends_no_retained_message_of_other_clients_filters(fleet: Fleet) -> None:
    device = fleet.connect(B, B)
    assert device.subscribe(T.twin_desired(B)) == [True]  # answered after the CONNECT's share
    device.wait_for(RETAINED[T.twin_desired(B)])  # its own: the rightful reader gets it
    integrator = fleet.connect("integrator", "acme")
    integrator.fence()
    assert device.topics() == {T.twin_desired(B)}
    assert integrator.topics() == set()


def test_wide_subscribe_gets_only_the_retained_messages_it_may_read(fleet: Fleet) -> None:
    integrator = fleet.connect("integrator", "acme")
    assert integrator.subscribe(WIDE) == [True]
    integrator.fence()
    assert integrator.topics() == {T.status(A)}
    hub = fleet.connect("hub-reader", "hub-reader")
    assert hub.subscribe(WIDE) == [True]
    hub.fence()
    assert hub.topics() == set(RETAINED)  # the hub may read everything: nothing withheld


def test_resumed_session_gets_on_connect_only_its_own_readable_retained(fleet: Fleet) -> None:
    """amqtt resends a resumed session's retained messages on CONNECT; MQTT 3.1.1 and
    Mosquitto send them on SUBSCRIBE only."""
    for who, client_id, topic_filter in [("integrator", "acme", WIDE), (A, A, T.all(A))]:
        first = fleet.connect(who, client_id, clean=False)
        first.subscribe(topic_filter, T.twin_desired(A))  # a device gets only the second
        first.fence()
        first.close()
    integrator = fleet.connect("integrator", "acme", clean=False)
    device = fleet.connect(A, A, clean=False)
    integrator.fence()
    device.fence()
    assert integrator.topics() == ({T.status(A)} if fleet.amqtt else set())
    assert device.topics() == ({T.twin_desired(A)} if fleet.amqtt else set())


def test_anonymous_demo_client_gets_only_public_retained_messages(demo_fleet: Fleet) -> None:
    anonymous = demo_fleet.connect(None, "watcher")
    anonymous.fence()
    assert anonymous.topics() == set()
    assert anonymous.subscribe(WIDE) == [True]
    anonymous.fence()
    assert anonymous.topics() == {T.status(A)}


# --- client-id takeover -------------------------------------------------------------------


def _device_listening(fleet: Fleet, *, clean: bool = True) -> Client:
    device = fleet.connect(A, A, clean=clean)
    assert device.subscribe(T.filter(Kind.CMD, A)) == [True]
    return device


@pytest.mark.parametrize("impostor", ["integrator", "hub"])
def test_another_identity_cannot_take_a_connected_devices_client_id(
    fleet: Fleet, impostor: str
) -> None:
    device = _device_listening(fleet)
    for clean in (True, False):
        assert not fleet.connect(impostor, A, clean=clean).accepted
    fleet.hub.publish(T.cmd(A, "reload"), b"still-mine")
    device.wait_for(b"still-mine")
    assert not device.disconnected


@pytest.mark.parametrize("impostor", ["integrator", "hub"])
def test_another_identity_cannot_take_an_offline_devices_session(
    fleet: Fleet, impostor: str
) -> None:
    _device_listening(fleet, clean=False).close()
    fleet.hub.publish(T.cmd(A, "reload"), b"queued")
    assert not fleet.connect(impostor, A, clean=False).accepted
    device = fleet.connect(A, A, clean=False)
    assert device.accepted
    fleet.hub.publish(T.cmd(A, "reload"), b"live")
    device.wait_for(b"live")
    assert device.payloads() == {b"queued", b"live"}  # its session and its queue, untouched


@pytest.mark.parametrize("impostor", ["integrator", "hub"])
def test_a_devices_client_id_is_refused_to_others_even_without_a_session(
    fleet: Fleet, impostor: str
) -> None:
    """No session to protect yet (B never connected): the id is still B's alone."""
    assert not fleet.connect(impostor, B, clean=False).accepted
    device = fleet.connect(B, B)
    assert device.accepted


def test_the_device_itself_may_take_its_session_over(fleet: Fleet) -> None:
    old = _device_listening(fleet)
    new = _device_listening(fleet)
    assert new.accepted
    fleet.hub.publish(T.cmd(A, "reload"), b"to-the-new-one")
    new.wait_for(b"to-the-new-one")
    if not fleet.amqtt:  # amqtt forgets a clean session's old connection but leaves it open
        old.wait_disconnected()


def test_anonymous_demo_client_cannot_use_a_devices_client_id(demo_fleet: Fleet) -> None:
    device = _device_listening(demo_fleet)
    for clean in (True, False):
        assert not demo_fleet.connect(None, A, clean=clean).accepted
    demo_fleet.hub.publish(T.cmd(A, "reload"), b"still-mine")
    device.wait_for(b"still-mine")
    assert not device.disconnected


def _provision(broker: SecuredBroker, account: Account, client_id: str | None) -> str:
    """A dynsec account added the way operators add one (`DynsecAdmin.add_account`)."""
    password = new_secret()

    async def provision() -> None:
        assert broker.admin is not None
        async with DynsecAdmin(broker.host, broker.port, *broker.admin) as control:
            await control.add_account(account, password, client_id=client_id)

    asyncio.run(provision())
    return password


@pytest.mark.mosquitto
def test_mosquitto_pins_the_hub_to_its_client_id(mosquitto_fleet: Fleet) -> None:
    """The hub account connects as `edgefleet-hub` (the hub's `mqtt_client_id`) and as
    nothing else; a replica's own account as `edgefleet-hub-<replica>`."""
    fleet = mosquitto_fleet
    assert fleet.hub.client_id == "edgefleet-hub"
    assert fleet.hub.accepted
    for wrong in ("edgefleet-hub-a", "hub-cmd", "acme"):
        assert not fleet.connect("hub", wrong).accepted
    replica = Account(AccountKind.HUB, "hub-a")
    fleet.creds["hub-a"] = ("hub-a", _provision(fleet.broker, replica, "edgefleet-hub-a"))
    assert fleet.connect("hub-a", "edgefleet-hub-a").accepted
    assert not fleet.connect("hub-a", "edgefleet-hub").accepted
    assert fleet.hub.subscribe(WIDE) == [True]  # the hub's session was never touched
    assert not fleet.hub.disconnected


@pytest.mark.mosquitto
@pytest.mark.parametrize("client_id", [None, "pinned-1"])
def test_mosquitto_pins_an_integrator_to_its_name_or_its_client_id(
    mosquitto_fleet: Fleet, client_id: str | None
) -> None:
    fleet = mosquitto_fleet
    password = _provision(fleet.broker, Account(AccountKind.INTEGRATOR, "pinned"), client_id)
    fleet.creds["pinned"] = ("pinned", password)
    device = _device_listening(fleet)
    own = client_id or "pinned"
    for wrong in sorted({A, "pinned", "pinned-1", "edgefleet-hub"} - {own}):
        assert not fleet.connect("pinned", wrong).accepted
    assert fleet.connect("pinned", own).accepted
    fleet.hub.publish(T.cmd(A, "reload"), b"still-mine")
    device.wait_for(b"still-mine")
    assert not device.disconnected


# --- the embedded broker in-process: restart, and rights changed while away ---------------

SECRET = new_secret()
V311 = aiomqtt.ProtocolVersion.V311


def _write(path: Path, acme_read: list[str]) -> None:
    entries = [FileEntry(name="hub", kind="hub", secret_sha256=hash_secret(SECRET)),
               FileEntry(name="acme", kind="integrator", secret_sha256=hash_secret(SECRET),
                         read=acme_read)]  # fmt: skip
    CredentialsFile(accounts=entries).write(path)


def _client(port: int, user: str | None, client_id: str) -> aiomqtt.Client:
    password = SECRET if user else None
    return aiomqtt.Client("127.0.0.1", port, identifier=client_id, username=user,
                          password=password, clean_session=False, protocol=V311)  # fmt: skip


async def _drain(client: aiomqtt.Client) -> set[str]:
    """Topics of the messages that arrived before a fence's SUBACK."""
    await client.subscribe("fence/none", qos=1)
    return {str((await anext(aiter(client.messages))).topic) for _ in range(len(client.messages))}


def test_a_disabled_devices_client_id_stays_reserved(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    entry = FileEntry(name=A, kind="device", secret_sha256=hash_secret(SECRET), disabled=True)
    CredentialsFile(accounts=[entry]).write(path)
    source = StaticCredentials(path)
    assert source.reserves(A)
    assert not source.reserves("acme-1")


async def test_restored_session_resumes_for_the_hub_not_for_anonymous(tmp_path: Path) -> None:
    """After a restart no owner is on record: a persistent hub must get its session back (no
    lock-out), an anonymous client must not take it."""
    _write(tmp_path / "creds.json", [])
    settings = BrokerSettings(port=0, data_dir=tmp_path / "data", demo=True,
                              credentials_file=tmp_path / "creds.json")  # fmt: skip
    async with (
        running_broker(settings) as running,
        _client(running.port, "hub", "edgefleet-hub") as hub,
    ):
        await hub.subscribe(WIDE, qos=1)
    async with running_broker(settings) as running:
        with pytest.raises(aiomqtt.MqttError):
            async with _client(running.port, None, "edgefleet-hub"):
                pass
        async with _client(running.port, "hub", "edgefleet-hub"):
            pass
        assert running.denied.get("connect_takeover") == 1


async def test_queued_messages_are_rechecked_when_the_session_resumes(tmp_path: Path) -> None:
    """Read rights narrowed while an integrator was away: what was queued for it under the
    old rights must not reach it."""
    creds = tmp_path / "creds.json"
    _write(creds, ["edgefleet/v1/+/status", "edgefleet/v1/+/event/+"])
    settings = BrokerSettings(port=0, data_dir=tmp_path / "data", credentials_file=creds)
    async with running_broker(settings) as running:
        async with _client(running.port, "acme", "acme-1") as acme:
            await acme.subscribe(WIDE, qos=1)
        async with _client(running.port, "hub", "hub-1") as hub:
            await hub.subscribe(WIDE, qos=1)  # after acme's: acme's queue is served first
            await hub.publish(T.status(A), b"s", qos=1)
            await hub.publish(T.event(A, "face"), b"e", qos=1)
            async with asyncio.timeout(TIMEOUT):
                assert [m.payload async for m in _take(hub, 2)] == [b"s", b"e"]
        assert running.broker.sessions["acme-1"][0].retained_messages.qsize() == 2
        _write(creds, ["edgefleet/v1/+/event/+"])
        async with _client(running.port, "acme", "acme-1") as acme:
            assert await _drain(acme) == {T.event(A, "face")}


async def _take(client: aiomqtt.Client, count: int) -> AsyncIterator[aiomqtt.Message]:
    messages = aiter(client.messages)
    for _ in range(count):
        yield await anext(messages)
