"""The hub's one outbound MQTT path, on the bridge's session: commands, twin desired, acks;
and command replies handed to whoever waits for them (futures keyed by `cmd_id`).

The bridge attaches its client while a session is up; nothing else in the hub opens an MQTT
connection. Without a session:

- `request()` / `command()` / `publish()` (API callers, who wait) fail at once with 503
  `mqtt_unavailable`, `try_publish()` / `post()` (twin, Home Assistant, acks) return False;
- `send()` (commands of rounds, deployments and canaries, from worker threads after their
  transaction committed) queues in a bounded FIFO (`mqtt_outbox_max`) published once the
  session is back; when full it raises `MqttUnavailable`. Queued commands die with the process.

Every command published is handed to the SQL writer as it went out, and the bridge hands it
every reply: both end up in the `commands` table.
"""

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import aiomqtt
from prometheus_client import Counter

from cloud_hub.core.errors import Unavailable
from cloud_hub.core.metrics import HubMetrics
from cloud_hub.ingest.inbound import Inbound
from contract import Command, CommandReply, ContractError, Kind, Topics, decode, encode

log = logging.getLogger(__name__)


class MqttUnavailable(Unavailable):
    code = "mqtt_unavailable"


class Recorder(Protocol):
    """Where published commands and received replies are stored (the SQL writer's queue)."""

    def offer(self, message: Inbound) -> bool: ...

    def put(self, message: Inbound) -> None: ...


@dataclass(frozen=True, slots=True)
class _Outgoing:
    device: str
    name: str
    topic: str
    command: Command


@dataclass(frozen=True, slots=True)
class _Waiter:
    device: str
    name: str
    future: asyncio.Future[CommandReply]


class Messenger:
    def __init__(
        self,
        topics: Topics,
        metrics: HubMetrics,
        recorder: Recorder | None = None,
        *,
        outbox_max: int = 1000,
    ) -> None:
        self.topics, self.metrics, self._recorder = topics, metrics, recorder
        self.online = threading.Event()  # set while a session is attached; any thread may wait
        self._client: aiomqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()  # guards the outbox: worker threads append to it
        self._outbox: deque[_Outgoing] = deque()
        self._outbox_max = outbox_max
        self._waiters: dict[str, _Waiter] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- the session (the bridge, on the loop) ---------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def attach(self, client: aiomqtt.Client) -> None:
        self._client = client
        self.online.set()
        self._flush()

    def detach(self) -> None:
        self._client = None
        self.online.clear()

    # ---- publishing --------------------------------------------------------------------------
    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish and wait for the broker's PUBACK; `MqttUnavailable` without a session."""
        client = self._client
        if client is None:
            raise MqttUnavailable("the hub has no MQTT session right now; try again shortly")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as exc:
            raise MqttUnavailable(f"publishing to the broker failed: {exc}") from None

    async def try_publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> bool:
        """`publish()` answering False instead of raising (twin desired, HA clean-up)."""
        if self._client is None:
            return False
        try:
            await self.publish(topic, payload, qos=qos, retain=retain)
        except MqttUnavailable as exc:
            log.warning("publish to %s failed: %s", topic, exc)
            return False
        return True

    def post(
        self, topic: str, payload: bytes, *, qos: int = 1, sent: Counter | None = None
    ) -> bool:
        """On the loop: publish without waiting (acks), counting it in `sent` once it went
        out (QoS 0: written to the socket; QoS 1: the broker has it); False without a
        session."""
        if self._client is None:
            return False
        self._spawn(self._post(self._client, topic, payload, qos, sent))
        return True

    async def _post(
        self, client: aiomqtt.Client, topic: str, payload: bytes, qos: int, sent: Counter | None
    ) -> None:
        try:
            await client.publish(topic, payload, qos=qos)
        except aiomqtt.MqttError as exc:
            log.debug("%s not sent: %s", topic, exc)
            self.metrics.unsent.inc()
            return
        if sent is not None:
            sent.inc()

    # ---- commands ----------------------------------------------------------------------------
    def send(self, device: str, name: str, command: Command) -> None:
        """From any thread: publish `command` on `{device}/cmd/{name}` as soon as there is a
        session (QoS 1); `MqttUnavailable` when the outbox is full."""
        item = _Outgoing(device, name, self.topics.cmd(device, name), command)
        with self._lock:
            if len(self._outbox) >= self._outbox_max:
                raise MqttUnavailable(
                    f"{len(self._outbox)} commands already wait for the MQTT session; "
                    f"`{name}` to {device} was not sent"
                )
            self._outbox.append(item)
            self.metrics.mqtt_outbox.set(len(self._outbox))
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        client = self._client
        if client is None:
            return
        with self._lock:
            items, self._outbox = list(self._outbox), deque()
            self.metrics.mqtt_outbox.set(0)
        for item in items:
            self._spawn(self._deliver(client, item))

    async def _deliver(self, client: aiomqtt.Client, item: _Outgoing) -> None:
        try:
            await self._publish_command(client, item)
        except aiomqtt.MqttError as exc:
            log.warning("`%s` to %s not sent yet: %s", item.name, item.device, exc)
            with self._lock:  # back at the head: sent first when the session is back
                self._outbox.appendleft(item)
                self.metrics.mqtt_outbox.set(len(self._outbox))
            if self._client is not None and self._client is not client:
                self._flush()  # a new session came up meanwhile

    async def _publish_command(self, client: aiomqtt.Client, item: _Outgoing) -> None:
        payload = encode(item.command)
        await self._record(Inbound(item.topic, payload, time.time()))
        await client.publish(item.topic, payload, qos=1)

    async def command(self, device: str, name: str, command: Command) -> None:
        """Publish `command` now and return once the broker has it, without waiting for the
        reply (recorded whenever it comes: an agent update answers after a restart).
        `MqttUnavailable` without a session or when the publication fails."""
        client = self._client
        if client is None:
            raise MqttUnavailable("the hub has no MQTT session right now; try again shortly")
        try:
            await self._publish_command(
                client, _Outgoing(device, name, self.topics.cmd(device, name), command)
            )
        except aiomqtt.MqttError as exc:
            raise MqttUnavailable(f"publishing to the broker failed: {exc}") from None

    async def request(
        self, device: str, name: str, command: Command, timeout_s: float
    ) -> tuple[CommandReply, float]:
        """Publish `command` and wait for its reply: (reply, ms from publish to reply).
        `MqttUnavailable` without a session, TimeoutError when no reply comes in time."""
        future = asyncio.get_running_loop().create_future()
        self._waiters[command.cmd_id] = _Waiter(device, name, future)
        try:
            started = time.monotonic()
            await self.command(device, name, command)
            async with asyncio.timeout(timeout_s):
                reply = await future
            return reply, (time.monotonic() - started) * 1000
        finally:
            self._waiters.pop(command.cmd_id, None)

    def deliver_reply(self, message: Inbound) -> None:
        """The bridge got `{d}/cmd/{name}/reply`: resolve the waiter of its cmd_id, if the
        reply comes from the device and for the command it waits for."""
        try:
            parsed = self.topics.parse(message.topic)
            if parsed.kind is not Kind.CMD_REPLY:
                return
            reply = decode(CommandReply, message.payload)
        except ContractError:
            return  # the writer counts it as invalid
        waiter = self._waiters.get(reply.cmd_id)
        waited = waiter is not None and (waiter.device, waiter.name) == (parsed.device, parsed.name)
        if waiter is not None and waited and not waiter.future.done():
            waiter.future.set_result(reply)
        self.metrics.command_replies.labels(str(waited).lower()).inc()

    # ---- helpers -----------------------------------------------------------------------------
    async def _record(self, message: Inbound) -> None:
        if self._recorder is not None and not self._recorder.offer(message):
            await asyncio.to_thread(self._recorder.put, message)

    async def settle(self, timeout_s: float) -> None:
        """Wait (bounded) for publications in flight, before the session is closed."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
