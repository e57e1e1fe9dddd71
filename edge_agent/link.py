"""The MQTT session on aiomqtt: Last Will, retained birth, subscriptions, reconnect with backoff.

The reconnect loop sits outside `async with Client` (aiomqtt's recommended shape): each
connection is a fresh client; on every (re)connect the agent re-subscribes, then publishes its
retained `online` birth, so a subscriber that sees `online` knows requests will be served.
The reconnect policy is the hub's too (`mqttio.reconnect`): between attempts tenacity waits
with exponential backoff and jitter; the backoff starts again from its first delay after every
session that was established.
"""

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Sequence

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt import MqttError
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from tenacity import RetryCallState

from edge_agent.config import BrokerConfig
from edge_agent.messages import Inbound, Outbound
from edge_agent.tls import client_context
from mqttio.reconnect import reconnect_backoff, reconnect_forever, serve_session

# `run` looks reconnect_backoff up in this module, so a test can replace it here
__all__ = ["Link", "reconnect_backoff"]

log = logging.getLogger(__name__)


def _payload(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return b"" if value is None else str(value).encode()


class Link:
    """One MQTT session at a time, re-established forever until `close()`."""

    def __init__(
        self,
        config: BrokerConfig,
        *,
        client_id: str,
        will: Outbound,
        birth: Callable[[], Outbound],
        subscriptions: Sequence[str],
        on_message: Callable[[Inbound], None],
        on_connected: Callable[[bool], None] = lambda up: None,
    ) -> None:
        self._config = config
        self._client_id = client_id
        self._will = will
        self._birth = birth
        self._subscriptions = list(dict.fromkeys(subscriptions))
        self._on_message = on_message
        self._on_connected = on_connected
        self._client: aiomqtt.Client | None = None
        self._pending: set[asyncio.Task[bool]] = set()
        self._unacked: dict[int, Callable[[], None] | None] = {}  # this session's, by mid
        self._drained = asyncio.Event()
        self._drained.set()
        self._v5 = config.protocol == "5"
        # built once (it reads the files): every reconnect reuses it
        self._tls = None if config.tls is None else client_context(config.tls)
        self.publish_failures = 0

    def subscribe(self, topics: Sequence[str]) -> None:
        """Add subscriptions (site gateways found at run time): taken now if a session is up,
        and on every reconnect."""
        new = [t for t in topics if t not in self._subscriptions]
        if not new:
            return
        self._subscriptions += new
        client = self._client
        if client is not None:
            task = asyncio.create_task(self._subscribe(client, new))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _subscribe(self, client: aiomqtt.Client, topics: list[str]) -> bool:
        try:
            await client.subscribe([(topic, 1) for topic in topics])
        except MqttError as exc:  # the session is ending; the next one subscribes to them
            log.warning("subscribing to %s failed: %s", topics, exc)
            return False
        return True

    @property
    def connected(self) -> bool:
        return self._client is not None

    def _new_client(self) -> aiomqtt.Client:
        c = self._config
        will = aiomqtt.Will(self._will.topic, self._will.payload, self._will.qos, self._will.retain)
        protocol = aiomqtt.ProtocolVersion.V5 if self._v5 else aiomqtt.ProtocolVersion.V311
        client = aiomqtt.Client(
            c.host,
            c.port,
            username=c.username,
            password=c.password,
            identifier=self._client_id,
            protocol=protocol,
            will=will,
            clean_session=None if self._v5 else True,
            keepalive=c.keepalive,
            timeout=10,
            # Small packets (PUBACK, then the result) back to back must not wait for the
            # broker's delayed ACK (~40 ms on Linux): no Nagle on the agent's socket.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            tls_context=self._tls,
        )
        client.pending_calls_threshold = 10_000  # results are published concurrently
        on_publish = client._on_publish  # aiomqtt's, for its own awaited publishes

        def published(
            c: paho.Client, userdata: object, mid: int, code: ReasonCode, props: Properties
        ) -> None:
            on_publish(c, userdata, mid, code, props)
            if self._client is client:  # mids restart with every session's client
                self._acked(mid)

        client._client.on_publish = published
        return client

    def _acked(self, mid: int) -> None:
        if mid not in self._unacked:
            return  # one of aiomqtt's (birth, subscriptions, close)
        on_ack = self._unacked.pop(mid)
        if not self._unacked:
            self._drained.set()
        if on_ack is not None:
            on_ack()

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff; returns only when cancelled."""
        c = self._config
        backoff = reconnect_backoff(
            c.reconnect_min_s, c.reconnect_max_s, before_sleep=self._reconnecting
        )
        await reconnect_forever(self._session, backoff)

    async def _session(self) -> MqttError:
        """One connection: raises MqttError if it cannot be established (subscriptions and
        birth included); once it was, serves it and returns the error that ended it."""
        try:
            return await serve_session(self._new_client(), self._start_session, self._serve)
        finally:
            if self._client is not None:
                self._client = None
                self._unacked.clear()  # never acked: the outbox sends them again
                self._drained.set()
                self._on_connected(False)

    def _reconnecting(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "MQTT session to %s:%s ended: %s; reconnecting in %.2f s",
            self._config.host,
            self._config.port,
            error,
            state.upcoming_sleep,
        )

    async def _start_session(self, client: aiomqtt.Client) -> None:
        await client.subscribe([(topic, 1) for topic in self._subscriptions])
        self._client = client  # before the birth: a close() from now on says `offline` after it
        birth = self._birth()
        await client.publish(birth.topic, birth.payload, birth.qos, birth.retain)
        log.info("connected to %s:%s as %s", self._config.host, self._config.port, self._client_id)
        self._on_connected(True)

    async def _serve(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            props = message.properties
            response = getattr(props, "ResponseTopic", None) if props is not None else None
            corr = getattr(props, "CorrelationData", None) if props is not None else None
            self._on_message(
                Inbound(
                    message.topic.value,
                    _payload(message.payload),
                    time.perf_counter(),
                    response,
                    corr,
                )
            )

    def publish(self, message: Outbound, on_ack: Callable[[], None] | None = None) -> bool:
        """Hand `message` to paho without waiting; `on_ack` runs on the broker's PUBACK (QoS 1)
        or once it is written (QoS 0), never if the session ends first. False if there is no
        session right now or paho refuses it.

        No task per message (aiomqtt's `publish` is a coroutine waiting on an event and a
        timer): under a burst of thousands of answers those were the agent's largest live set
        and a share of its loop's time per request (docs/agent.md "Inside")."""
        client = self._client
        if client is None:
            self.publish_failures += 1
            return False
        info = client._client.publish(
            message.topic, message.payload, message.qos, message.retain, self._properties(message)
        )
        if info.rc != paho.MQTT_ERR_SUCCESS:
            self.publish_failures += 1
            log.warning("publish to %s failed: %s", message.topic, paho.error_string(info.rc))
            return False
        if not info.is_published():  # paho may have sent a QoS 0 message already
            self._unacked[info.mid] = on_ack
            self._drained.clear()
        elif on_ack is not None:
            on_ack()
        return True

    def _properties(self, message: Outbound) -> Properties | None:
        if not self._v5 or (message.correlation is None and not message.response_topic):
            return None
        from paho.mqtt.packettypes import PacketTypes

        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if message.correlation is not None:
            properties.CorrelationData = message.correlation
        if message.response_topic:
            properties.ResponseTopic = message.response_topic
        return properties

    async def close(self, last: Outbound | None, wait_s: float = 3.0) -> None:
        """Publish `last` (the retained `offline`) and wait for its PUBACK; the caller then
        cancels `run()`, whose `async with` sends DISCONNECT so the Will does not fire."""
        client = self._client
        if client is None:
            return
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=wait_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), wait_s)
        if last is not None:
            try:
                await client.publish(
                    last.topic, last.payload, last.qos, last.retain, timeout=wait_s
                )
            except MqttError as exc:
                log.warning("could not publish %s before closing: %s", last.topic, exc)
