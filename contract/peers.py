"""Site gateways: agents that answer other devices' requests (`serve_peers: true`).

A gateway registers itself in the hub's service registry under `PEER_SERVICE`, with a
`PeerOffer` as the record's metadata; the hub decides who may use it from the registry alone
(the devices of the gateway's own site, `Device.site`), so a device can never widen its rights
by what it reports. A device asks the hub for its site's gateways (`contract.http.PEERS`),
sends them requests on their `{g}/infer/{m}/{rid}` topic with an MQTT 5 response topic of its
own (`{d}/reply/{rid}`) and reads their load from their `status` and `health` topics, which
the broker lets it read (broker/acl.py).
"""

from pydantic import BaseModel, ConfigDict, Field

from contract.health import DeviceState
from contract.ids import ModelId

PEER_SERVICE = "edgefleet-peer"
"""The service id a gateway registers under (`PUT /devices/{id}/service`)."""


class PeerOffer(BaseModel):
    """What a gateway offers, as its service record's metadata."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    models: list[ModelId] = Field(max_length=64, description="models it answers requests for")
    workers: int = Field(ge=1, le=64, description="inference workers per model")


class Peer(BaseModel):
    """One gateway of the caller's site, as the hub's `GET /api/v1/peers` lists it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    device_id: str
    models: list[ModelId]
    workers: int = Field(ge=1)
    state: DeviceState = Field(description="the hub's view; the device watches `status` itself")
