"""What the bridge and the messenger hand the SQL writer: one MQTT message as received, and the
kinds the hub stores.

A module of its own so that the producers (bridge, messenger) and the writer's parts share
it without importing one another.
"""

from dataclasses import dataclass

from contract import Kind

INGESTED_KINDS = (Kind.STATUS, Kind.HEALTH, Kind.TWIN_REPORTED, Kind.RESULT, Kind.EVENT, Kind.ERROR)
# besides those: every device's command replies (the bridge), and the hub's own commands as
# it published them (the messenger; the bridge does not subscribe to `cmd`)
STORED_KINDS = (*INGESTED_KINDS, Kind.CMD_REPLY, Kind.CMD)


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    received: float  # wall-clock seconds at the bridge
