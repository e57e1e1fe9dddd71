"""`GET /peers` (contract.http.PEERS): the gateways of the calling device's site.

Only a device asks, with its own credentials: the answer depends on who it is (its registry
site, never a site it names). A gateway record whose metadata no longer validates as a
`PeerOffer` (written before the hub checked it) is left out rather than failing the list.
"""

import logging

from fastapi import APIRouter
from pydantic import ValidationError

from cloud_hub.api.deps import DbDep, DeviceDep
from cloud_hub.crud import devices as crud_devices
from cloud_hub.crud import peers as crud
from contract.health import DeviceState
from contract.http import PEERS
from contract.peers import Peer, PeerOffer

router = APIRouter(tags=["peers"])
log = logging.getLogger(__name__)


@router.get(PEERS)
def list_peers(db: DbDep, who: DeviceDep) -> list[Peer]:
    """The site gateways the caller may offload to (itself excluded); `[]` without a site."""
    assert who.device_id is not None  # DeviceDep: a device principal
    peers: list[Peer] = []
    with db.session(write=False) as s:
        device = crud_devices.get_device(s, device_id=who.device_id)
        for gateway in crud.site_gateways(s, device.site):
            if gateway.id == device.id:
                continue
            try:
                offer = PeerOffer.model_validate(gateway.service_meta or {})
            except ValidationError as exc:
                log.warning("gateway %s: malformed PeerOffer, not listed: %s", gateway.id, exc)
                continue
            peers.append(
                Peer(
                    device_id=gateway.id,
                    models=offer.models,
                    workers=offer.workers,
                    state=DeviceState(gateway.state),
                )
            )
    return peers
