"""Hub -> device commands on `{d}/cmd/{name}` (QoS 1) over one paho session of its own.

paho's network thread makes `send` callable from the API's worker threads and the round
service alike; it reconnects by itself.
"""

import logging
import threading
import uuid
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud_hub.core.config import Settings
from contract import Command, Topics, encode

log = logging.getLogger(__name__)


class Commander(Protocol):
    def send(self, device_id: str, name: str, args: dict[str, Any]) -> str: ...


class MqttCommander:
    def __init__(self, settings: Settings) -> None:
        self.topics = Topics(settings.topic_prefix)
        self.connected = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{settings.mqtt_client_id}-cmd-{uuid.uuid4().hex[:6]}",
        )
        if settings.mqtt_username:
            password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
            client.username_pw_set(settings.mqtt_username, password)
        client.on_connect = lambda *a: self.connected.set()
        client.on_disconnect = lambda *a: self.connected.clear()
        client.reconnect_delay_set(1, 10)
        self._client = client
        self._where = (settings.mqtt_host, settings.mqtt_port)

    def start(self) -> None:
        self._client.connect_async(*self._where, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def send(self, device_id: str, name: str, args: dict[str, Any]) -> str:
        """Queue a command (QoS 1; paho queues it while reconnecting); returns its cmd_id."""
        command = Command(cmd_id=uuid.uuid4().hex, args=args)
        self._client.publish(self.topics.cmd(device_id, name), encode(command), qos=1)
        return command.cmd_id


class NullCommander:
    """No broker (MQTT disabled): commands are recorded, not sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def send(self, device_id: str, name: str, args: dict[str, Any]) -> str:
        self.sent.append((device_id, name, args))
        return uuid.uuid4().hex
