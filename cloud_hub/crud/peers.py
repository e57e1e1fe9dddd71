"""Site gateways from the registry: the one place that decides who may offload to whom.

A gateway is a device whose service record is `PEER_SERVICE`; it serves the devices of its own
site (`Device.site`, set by enrollment token or admin, never by the device). A device without
a site has no peers and serves nobody. The broker rights (broker/acl.py `peers`/`clients`), the
dynsec refresh and `GET /peers` all ask here.
"""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_hub.db import tables as t
from contract.peers import PEER_SERVICE


def site_gateways(session: Session, site: str | None) -> list[t.Device]:
    """The registered gateways of `site`, by id (none for no site)."""
    if site is None:
        return []
    stmt = select(t.Device).where(t.Device.site == site, t.Device.service_id == PEER_SERVICE)
    return list(session.scalars(stmt.order_by(t.Device.id)))


def is_gateway(device: t.Device) -> bool:
    return device.site is not None and device.service_id == PEER_SERVICE


def _site_device_ids(session: Session, site: str | None) -> list[str]:
    if site is None:
        return []
    stmt = select(t.Device.id).where(t.Device.site == site).order_by(t.Device.id)
    return list(session.scalars(stmt))


def peers_of(session: Session, device: t.Device) -> tuple[str, ...]:
    """The gateways `device` may offload to: its site's, itself excluded."""
    return tuple(g.id for g in site_gateways(session, device.site) if g.id != device.id)


def clients_of(session: Session, device: t.Device) -> tuple[str, ...]:
    """The devices a gateway answers: its site's, itself excluded; none if it is no gateway."""
    if not is_gateway(device):
        return ()
    return tuple(d for d in _site_device_ids(session, device.site) if d != device.id)


def affected(
    session: Session, *, device_id: str, sites: Iterable[str | None], gateway: bool
) -> list[str]:
    """Devices whose peer rights move when `device_id` joins, leaves or changes in `sites`.

    A gateway coming or going changes every device of its site(s); any other device changes
    only itself and the gateways of its site(s). Devices that no longer exist are left out.
    """
    ids: set[str] = set()
    for site in set(sites):
        if gateway:
            ids.update(_site_device_ids(session, site))
        else:
            ids.update(g.id for g in site_gateways(session, site))
    if session.get(t.Device, device_id) is not None:
        ids.add(device_id)
    return sorted(ids)
