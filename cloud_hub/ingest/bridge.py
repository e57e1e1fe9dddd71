"""The hub's one MQTT connection, owned by the app's lifespan: ingest in, the messenger out.

It subscribes to every device's command replies (never shared: the replica that sent a
command is the one waiting for its reply) and, on the leader replica only (`ingest()`,
cloud_hub/core/leader.py), to every device's status, health, twin/reported, result, event and
error topics (shared among replicas with `mqtt_shared_group`). Messages go to the
writer thread without touching SQL; when its queue is full the bridge stops reading, so
backpressure reaches the broker instead of memory growing. Replies also go to the messenger,
which hands them to their waiters; everything the hub publishes goes through the messenger on
this same session. One client id per process: `mqtt_client_id[-mqtt_replica]`.

The reconnect loop sits outside `async with Client` (aiomqtt's recommended shape); the policy
is the agent's too (`mqttio.reconnect`): tenacity waits between attempts (exponential, with
jitter), from its first delay again after every session that was established.
"""

import asyncio
import logging
import time

import aiomqtt
from aiomqtt import MqttError
from tenacity import RetryCallState

from cloud_hub.core.config import Settings
from cloud_hub.core.metrics import HubMetrics
from cloud_hub.ingest.inbound import INGESTED_KINDS, Inbound
from cloud_hub.ingest.messenger import Messenger
from cloud_hub.ingest.rows import Batch
from cloud_hub.ingest.writer import IngestWriter
from contract import Ack, Kind, Topics, encode
from contract.topics import SPEC_BY_KIND
from mqttio.reconnect import reconnect_backoff, reconnect_forever, serve_session

log = logging.getLogger(__name__)
ACK_CHUNK = 500  # msg_ids per `{d}/ack` message (~17 kB)
ACK_QOS = SPEC_BY_KIND[Kind.ACK].qos
REPLY_KINDS = (Kind.CMD_REPLY,)
RECONNECT_MIN_S, RECONNECT_MAX_S = 0.2, 10.0  # 0.2 s * 2**(n-1) + up to 0.2 s, at most 10 s


def subscriptions(topics: Topics, shared_group: str | None = None) -> list[tuple[str, int]]:
    """(filter, QoS) for every kind the hub ingests; QoS 1 so a device's QoS 1 survives.
    With `shared_group`, shared subscriptions (`$share/<group>/<filter>`) split the load."""
    share = f"$share/{shared_group}/" if shared_group else ""
    return [
        (share + topics.filter(kind), max(1, SPEC_BY_KIND[kind].qos)) for kind in INGESTED_KINDS
    ]


def reply_subscriptions(topics: Topics) -> list[tuple[str, int]]:
    """(filter, QoS) of every device's command replies (`+/cmd/+/reply`), never shared."""
    return [(topics.filter(kind), max(1, SPEC_BY_KIND[kind].qos)) for kind in REPLY_KINDS]


class MqttBridge:
    def __init__(
        self,
        settings: Settings,
        writer: IngestWriter,
        metrics: HubMetrics,
        messenger: Messenger | None = None,
    ) -> None:
        self.settings, self.writer, self.metrics = settings, writer, metrics
        self.topics = Topics(settings.topic_prefix)
        self.client_id = settings.mqtt_session_id
        self.messenger = messenger or Messenger(
            self.topics, metrics, writer, outbox_max=settings.mqtt_outbox_max
        )
        self.connected = asyncio.Event()
        # subscribed to the ingest topics; the hub's lifespan turns it off on a standby
        # replica (`ingest()`): replies and publishing need no leadership
        self.ingesting = True
        self._client_now: aiomqtt.Client | None = None
        self._switching: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._counted = False  # this session is in the mqtt_connections gauge
        metrics.mqtt_client.info({"client_id": self.client_id})
        if settings.mqtt_acks:
            writer.listeners.append(self._committed)

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        client = aiomqtt.Client(
            s.mqtt_host,
            s.mqtt_port,
            username=s.mqtt_username,
            password=s.mqtt_password.get_secret_value() if s.mqtt_password else None,
            identifier=self.client_id,
            clean_session=not s.mqtt_persistent_session,
            keepalive=30,
            timeout=10,
        )
        client.pending_calls_threshold = 10_000  # a rollout publishes its commands at once
        return client

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff; returns only when cancelled."""
        self._loop = asyncio.get_running_loop()
        self.messenger.bind(self._loop)
        backoff = reconnect_backoff(
            RECONNECT_MIN_S, RECONNECT_MAX_S, before_sleep=self._reconnecting
        )
        await reconnect_forever(self._session, backoff)

    async def _session(self) -> MqttError:
        """One connection: raises MqttError if it cannot be established (subscriptions
        included); once it was, serves it and returns the error that ended it."""
        try:
            return await serve_session(self._client(), self._start, self._pump)
        finally:
            self._client_now = None
            self.messenger.detach()
            self._set_connected(False)
            if self._counted:
                self._counted = False
                self.metrics.mqtt_connections.dec()

    async def _start(self, client: aiomqtt.Client) -> None:
        """The client is connected: count it, subscribe, hand it to the messenger."""
        self._counted = True
        self.metrics.mqtt_connections.inc()
        self.metrics.mqtt_connects.inc()
        ingest = subscriptions(self.topics, self.settings.mqtt_shared_group)
        await client.subscribe(
            [*(ingest if self.ingesting else []), *reply_subscriptions(self.topics)]
        )
        self._client_now = client
        self.messenger.attach(client)
        self._set_connected(True)
        log.info(
            "mqtt bridge connected",
            extra={"broker": self._where(), "client_id": self.client_id},
        )

    def _reconnecting(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "mqtt bridge disconnected: %s; retrying in %.1f s",
            error,
            state.upcoming_sleep,
            extra={"broker": self._where()},
        )

    def ingest(self, on: bool) -> None:
        """On the loop: (un)subscribe the ingest topics now and on every later session: the
        replica that leads ingests (`cloud_hub/core/leader.py`), a standby only publishes and
        takes replies. A device's messages published while no replica ingests are re-sent by
        its outbox."""
        if on == self.ingesting:
            return
        self.ingesting = on
        client = self._client_now
        if client is not None:
            task = asyncio.get_running_loop().create_task(self._resubscribe(client, on))
            self._switching = task  # keep a reference until it is done

    async def _resubscribe(self, client: aiomqtt.Client, on: bool) -> None:
        filters = subscriptions(self.topics, self.settings.mqtt_shared_group)
        try:
            if on:
                await client.subscribe(filters)
            else:
                await client.unsubscribe([f for f, _ in filters])
        except MqttError as exc:  # the session ends: the next one subscribes as `ingesting` says
            log.warning("ingest %ssubscribe failed: %s", "" if on else "un", exc)
        log.info("ingest %s on this replica", "started" if on else "stopped")

    async def _pump(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            if not isinstance(payload, bytes | bytearray):
                payload = str(payload).encode() if payload is not None else b""
            inbound = Inbound(message.topic.value, bytes(payload), time.time())
            if inbound.topic.endswith("/reply"):
                self.messenger.deliver_reply(inbound)
            if not self.writer.offer(inbound):  # writer full: stop reading (backpressure)
                await asyncio.to_thread(self.writer.put, inbound)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> bool:
        """Publish through the messenger (twin desired, HA removal); False without a session."""
        return await self.messenger.try_publish(topic, payload, qos=qos, retain=retain)

    # ---- end-to-end acks: after the writer committed a batch ------------------------------
    def _committed(self, batch: Batch) -> None:
        """Writer thread: hand the batch's msg_ids to the loop (SQL has committed them)."""
        if batch.acks and self._loop is not None:
            self._loop.call_soon_threadsafe(self._send_acks, batch.acks)

    def _send_acks(self, acks: dict[str, list[str]]) -> None:
        """At QoS 0 (the contract's): an ack lost (no session, a dropped connection) is asked
        for again by the device's resend, and ingest is idempotent. At QoS 1 each ack waited
        for the broker's PUBACK inside the client's in-flight window, and a broker busy sending
        the hub a backlog answered after it: acks stalled, the devices re-sent everything, the
        backlog grew (measured on amqtt after a hub restart: no ack got through for 30 s)."""
        for device, ids in acks.items():
            for i in range(0, len(ids), ACK_CHUNK):
                payload = encode(Ack(msg_ids=ids[i : i + ACK_CHUNK]))
                self.messenger.post(
                    self.topics.ack(device), payload, qos=ACK_QOS, sent=self.metrics.acks
                )

    def _set_connected(self, up: bool) -> None:
        (self.connected.set if up else self.connected.clear)()
        self.metrics.mqtt_connected.set(1 if up else 0)

    def _where(self) -> str:
        return f"{self.settings.mqtt_host}:{self.settings.mqtt_port}"
