"""Hub -> device commands on `{d}/cmd/{name}` (QoS 1) for the registry and the round service.

`MqttCommander` sends over the hub's one MQTT session (`ingest.messenger`); `send` may be
called from any thread (the API's worker threads, the round tasks, the deadline ticker): the
messenger hands the command to the event loop, queueing it (bounded) while the session is
down. With MQTT off, `NullCommander` records what would have been sent.
"""

import threading
from typing import Any, Protocol

from cloud_hub.ingest.messenger import Messenger
from contract import AnyArgs, Command, name_of


class Commander(Protocol):
    def send(self, device_id: str, args: AnyArgs) -> str:
        """Send the command `args` belong to; returns its cmd_id."""
        ...


class MqttCommander:
    def __init__(self, messenger: Messenger) -> None:
        self.messenger = messenger

    @property
    def connected(self) -> threading.Event:
        """Set while the hub's MQTT session is up (a thread may wait on it)."""
        return self.messenger.online

    def send(self, device_id: str, args: AnyArgs) -> str:
        """Queue the command for the hub's session; returns its cmd_id. Raises
        `MqttUnavailable` (503) when `mqtt_outbox_max` commands already wait for it."""
        command = Command.of(args)
        self.messenger.send(device_id, name_of(args), command)
        return command.cmd_id


class NullCommander:
    """No broker (MQTT disabled): commands are recorded, not sent: (device, name, wire args)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def send(self, device_id: str, args: AnyArgs) -> str:
        command = Command.of(args)
        self.sent.append((device_id, name_of(args), command.args))
        return command.cmd_id
