"""The MQTT side of ingest: one aiomqtt session, owned by the app's lifespan.

It subscribes to every device's status, health, twin/reported, result, event and error topics
and hands each message to the writer thread without touching SQL. When the writer's queue is
full it stops reading, so backpressure reaches the broker instead of memory growing. The
reconnect loop sits outside `async with Client` (aiomqtt's recommended shape).
"""

import asyncio
import logging
import time

import aiomqtt

from cloud_hub.core.config import Settings
from cloud_hub.core.metrics import HubMetrics
from cloud_hub.ingest.rows import Batch
from cloud_hub.ingest.writer import INGESTED_KINDS, Inbound, IngestWriter
from contract import Ack, Topics, encode
from contract.topics import SPEC_BY_KIND

log = logging.getLogger(__name__)
ACK_CHUNK = 500  # msg_ids per `{d}/ack` message (~17 kB)


def subscriptions(topics: Topics, shared_group: str | None = None) -> list[tuple[str, int]]:
    """(filter, QoS) for every kind the hub ingests; QoS 1 so a device's QoS 1 survives.
    With `shared_group`, shared subscriptions (`$share/<group>/<filter>`) split the load."""
    share = f"$share/{shared_group}/" if shared_group else ""
    return [(share + topics.filter(kind), max(1, SPEC_BY_KIND[kind].qos))
            for kind in INGESTED_KINDS]


class MqttBridge:
    def __init__(self, settings: Settings, writer: IngestWriter, metrics: HubMetrics) -> None:
        self.settings, self.writer, self.metrics = settings, writer, metrics
        self.topics = Topics(settings.topic_prefix)
        self.connected = asyncio.Event()
        self._client_now: aiomqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._acks: set[asyncio.Task[None]] = set()
        if settings.mqtt_acks:
            writer.listeners.append(self._committed)

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        return aiomqtt.Client(
            s.mqtt_host, s.mqtt_port, username=s.mqtt_username,
            password=s.mqtt_password.get_secret_value() if s.mqtt_password else None,
            identifier=s.mqtt_client_id, clean_session=not s.mqtt_persistent_session,
            keepalive=30, timeout=10)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        backoff = 0.2
        while True:
            try:
                async with self._client() as client:
                    await client.subscribe(
                        subscriptions(self.topics, self.settings.mqtt_shared_group))
                    self._client_now = client
                    self._set_connected(True)
                    backoff = 0.2
                    log.info("mqtt bridge connected", extra={"broker": self._where()})
                    await self._pump(client)
            except aiomqtt.MqttError as exc:
                log.warning("mqtt bridge disconnected: %s; retrying in %.1f s", exc, backoff,
                            extra={"broker": self._where()})
            finally:
                self._client_now = None
                self._set_connected(False)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _pump(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            if not isinstance(payload, bytes | bytearray):
                payload = str(payload).encode() if payload is not None else b""
            inbound = Inbound(message.topic.value, bytes(payload), time.time())
            if not self.writer.offer(inbound):  # writer full: stop reading (backpressure)
                await asyncio.to_thread(self.writer.put, inbound)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1,
                      retain: bool = False) -> bool:
        """Publish on the bridge's session (twin desired, HA removal); False without one."""
        client = self._client_now
        if client is None:
            return False
        try:
            await client.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as exc:
            log.warning("publish to %s failed: %s", topic, exc)
            return False
        return True

    # ---- end-to-end acks: after the writer committed a batch ------------------------------
    def _committed(self, batch: Batch) -> None:
        """Writer thread: hand the batch's msg_ids to the loop (SQL has committed them)."""
        if batch.acks and self._loop is not None:
            self._loop.call_soon_threadsafe(self._send_acks, batch.acks)

    def _send_acks(self, acks: dict[str, list[str]]) -> None:
        client = self._client_now
        if client is None:  # no session: the devices re-send, ingest is idempotent
            return
        for device, ids in acks.items():
            for i in range(0, len(ids), ACK_CHUNK):
                payload = encode(Ack(msg_ids=ids[i : i + ACK_CHUNK]))
                task = asyncio.create_task(self._publish_ack(client, device, payload))
                self._acks.add(task)
                task.add_done_callback(self._acks.discard)

    async def _publish_ack(self, client: aiomqtt.Client, device: str, payload: bytes) -> None:
        try:
            await client.publish(self.topics.ack(device), payload, qos=1)
            self.metrics.acks.inc()
        except aiomqtt.MqttError as exc:
            log.debug("ack to %s not sent: %s", device, exc)

    def _set_connected(self, up: bool) -> None:
        (self.connected.set if up else self.connected.clear)()
        self.metrics.mqtt_connected.set(1 if up else 0)

    def _where(self) -> str:
        return f"{self.settings.mqtt_host}:{self.settings.mqtt_port}"
