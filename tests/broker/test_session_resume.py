"""QoS 1 around a (re)connection: once each, in order, none lost. Each amqtt fault pinned here.

* A publisher that disconnected right after its last PUBACK lost the messages amqtt had
  acknowledged but not broadcast yet (`GuardedBroker._client_message_loop`).
* A message broadcast while a persistent session was being resumed overtook the messages
  queued while it was away, and came twice when amqtt's `start()` resent it as if it were in
  flight from the last connection (`GuardedHandler.mqtt_publish`).

Both made `tests/integration/test_conformance.py::test_qos1_delivered_across_reconnect[amqtt]`
flaky. Here a delay at the right seam makes each happen every time.
"""

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from broker.credentials import CredentialsFile, FileEntry, hash_secret, new_secret
from broker.handler import GuardedHandler
from broker.server import RunningBroker, running_broker
from broker.settings import BrokerSettings
from contract import Kind, Topics

pytestmark = pytest.mark.timeout(60)

T = Topics()
V311 = aiomqtt.ProtocolVersion.V311
SECRET = new_secret()
DEVICE, HUB_ID = "cam-1", "hub-resume"
TOPIC = T.event(DEVICE, "face")
TIMEOUT = 10.0


@pytest.fixture
def settings(tmp_path: Path) -> BrokerSettings:
    creds = tmp_path / "creds.json"
    digest = hash_secret(SECRET)
    accounts = [FileEntry(name="hub", kind="hub", secret_sha256=digest),
                FileEntry(name=DEVICE, kind="device", secret_sha256=digest)]  # fmt: skip
    CredentialsFile(accounts=accounts).write(creds)
    return BrokerSettings(port=0, data_dir=tmp_path / "data", credentials_file=creds)


def _hub(running: RunningBroker, *, clean: bool = False) -> aiomqtt.Client:
    return aiomqtt.Client(running.host, running.port, identifier=HUB_ID, username="hub",
                          password=SECRET, clean_session=clean, protocol=V311)  # fmt: skip


def _device(running: RunningBroker) -> aiomqtt.Client:
    return aiomqtt.Client(running.host, running.port, identifier=DEVICE, username=DEVICE,
                          password=SECRET, protocol=V311)  # fmt: skip


async def _take(client: aiomqtt.Client, count: int) -> list[bytes]:
    """The payloads of the next `count` messages, duplicates included; fewer if they stop."""
    got: list[bytes] = []
    with suppress(TimeoutError):
        async with asyncio.timeout(TIMEOUT):
            async for message in client.messages:
                got.append(bytes(message.payload))  # type: ignore[arg-type]
                if len(got) == count:
                    break
    return got


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for a state of amqtt's internals, which signal no event for it."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():  # noqa: ASYNC110  (nothing to wait on but the state itself)
            await asyncio.sleep(0.01)


def _run_in_resume_window(
    monkeypatch: pytest.MonkeyPatch, step: Callable[[], Awaitable[None]]
) -> None:
    """Run `step` once, when the hub's session is being resumed: amqtt has marked it connected
    and sent CONNACK, but not yet started its handler nor sent what was queued."""
    connack = GuardedHandler.mqtt_connack_authorize
    pending = [step]

    async def connack_then_step(self: GuardedHandler, authorize: bool) -> None:
        await connack(self, authorize)
        if self.session is not None and self.session.client_id == HUB_ID and pending:
            await pending.pop()()

    monkeypatch.setattr(GuardedHandler, "mqtt_connack_authorize", connack_then_step)


async def test_broadcast_during_resume_comes_once_after_the_queued_messages(
    settings: BrokerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    away = [f"away-{n}".encode() for n in range(3)]
    resuming = [f"resuming-{n}".encode() for n in range(3)]
    async with running_broker(settings) as running, _device(running) as device:
        async with _hub(running) as hub:
            await hub.subscribe(T.filter(Kind.EVENT), qos=1)
        for payload in away:
            await device.publish(TOPIC, payload, qos=1)
        session = running.broker.sessions[HUB_ID][0]
        await _until(lambda: session.retained_messages.qsize() == len(away))

        async def publish_while_resuming() -> None:
            for payload in resuming:
                await device.publish(TOPIC, payload, qos=1)
            # every broadcast has reached the hub's session: sent (in flight) or queued
            await _until(lambda: len(session.inflight_out) + session.retained_messages.qsize()
                         == len(away) + len(resuming))  # fmt: skip

        _run_in_resume_window(monkeypatch, publish_while_resuming)
        async with _hub(running) as hub:
            # amqtt: resuming-0..2, the same again (resent by start()), then away-0..2
            assert await _take(hub, 6) == away + resuming
            await hub.subscribe(T.status("nobody"), qos=1)  # its SUBACK follows anything sent
            assert len(hub.messages) == 0, "a message came twice"


async def test_messages_acknowledged_just_before_disconnect_are_all_broadcast(
    settings: BrokerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = [f"m{n}".encode() for n in range(5)]
    async with running_broker(settings) as running, _hub(running, clean=True) as hub:
        await hub.subscribe(T.filter(Kind.EVENT), qos=1)
        broker = running.broker
        deliver = broker._handle_message_delivery
        gate = asyncio.Event()

        async def held_up(session: Any, handler: Any, received: Any) -> bool:
            if session.client_id == DEVICE:  # a busy broker: the device's loop lags behind
                await gate.wait()
            accepted: bool = await deliver(session, handler, received)
            return accepted

        monkeypatch.setattr(broker, "_handle_message_delivery", held_up)
        async with _device(running) as device:
            for payload in sent:  # each PUBACKed as soon as amqtt queued it
                await device.publish(TOPIC, payload, qos=1)
            handler = broker.sessions[DEVICE][1]
        await _until(lambda: handler.writer.is_closed)  # amqtt has read DISCONNECT and EOF
        gate.set()
        # amqtt: m0 and m1, then its loop ended at the DISCONNECT; m2..m4 were lost
        assert await _take(hub, len(sent)) == sent
