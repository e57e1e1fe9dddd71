"""Provision device accounts in Mosquitto's dynamic-security plugin (`mqtt_dynsec` on).

The registry stays the source of truth; the broker gets a copy of each device's credentials
and its ACL role (generated from `broker.acl.rights_for`, the same table amqtt enforces):

- enroll / direct registration: createRole + createClient (client id pinned) + addClientRole;
- secret rotation: setClientPassword, then the client is kicked so the old secret stops at
  once (a device the broker does not know yet is created instead);
- delete: deleteClient + deleteRole (a device the broker does not know is fine);
- peer rights (a site's gateways, broker/acl.py): when a gateway registers or deregisters, a
  device changes site, or one is created or deleted in a site, `peers_changed` makes the role
  of every affected device (cloud_hub/crud/peers.py `affected`) equal to its `rights_for`
  again: getRole, then addRoleACL for the missing ACLs before removeRoleACL for the stale ones
  (Mosquitto disconnects a device whose role changed; it reconnects with the new rights).

Routes call the synchronous helpers from FastAPI's worker threads *inside* their database
transaction, so a broker that refuses or does not answer fails the request (503
`broker_provisioning_failed`) and rolls the registry change back: registry and broker never
disagree about who may connect. Each call opens its own admin session (a few ms on loopback;
no shared state across hub replicas). Mosquitto answers `$CONTROL` commands to the asking
client only, so concurrent calls do not see each other's responses.
"""

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import anyio.from_thread
from sqlalchemy.orm import Session

from broker.acl import Account, AccountKind, rights_for
from broker.dynsec import (
    DynsecAdmin,
    DynsecError,
    add_account_commands,
    kick_commands,
    revoke_commands,
    role_acls,
    role_name,
    set_password_commands,
)
from cloud_hub.core.config import Settings
from cloud_hub.core.errors import Unavailable
from cloud_hub.crud import peers as crud_peers
from cloud_hub.db import tables as t

log = logging.getLogger(__name__)
T = TypeVar("T")
CODE = "broker_provisioning_failed"


def _device(device_id: str) -> Account:
    return Account(AccountKind.DEVICE, device_id)


def _not_found(exc: DynsecError) -> bool:
    return "not found" in str(exc).lower()


class DynsecProvisioner:
    """Device accounts over `$CONTROL/dynamic-security/v1`, with the hub's settings."""

    def __init__(self, settings: Settings, *, timeout_s: float = 5.0) -> None:
        if settings.mqtt_dynsec_password is None:
            raise ValueError("mqtt_dynsec needs EDGEFLEET_MQTT_DYNSEC_PASSWORD")
        self.settings = settings
        self._password = settings.mqtt_dynsec_password.get_secret_value()
        self._timeout = timeout_s

    def _admin(self) -> DynsecAdmin:
        s = self.settings
        return DynsecAdmin(
            s.mqtt_host,
            s.mqtt_port,
            s.mqtt_dynsec_username,
            self._password,
            timeout_s=self._timeout,
        )

    async def add_device(self, device_id: str, secret: str) -> None:
        s = self.settings
        commands = add_account_commands(
            _device(device_id),
            secret,
            prefix=s.topic_prefix,
            ha_prefix=s.ha_discovery_prefix or None,
        )
        async with self._admin() as admin:
            await admin.execute(commands)
        log.info("dynsec: provisioned device %s", device_id)

    async def rotate(self, device_id: str, secret: str) -> None:
        account = _device(device_id)
        async with self._admin() as admin:
            try:
                await admin.execute(set_password_commands(account, secret))
            except DynsecError as exc:
                if not _not_found(exc):
                    raise
                await admin.execute(
                    add_account_commands(
                        account,
                        secret,
                        prefix=self.settings.topic_prefix,
                        ha_prefix=self.settings.ha_discovery_prefix or None,
                    )
                )
                return
            await admin.execute(kick_commands(account))
        log.info("dynsec: rotated the secret of device %s", device_id)

    async def delete(self, device_id: str) -> None:
        account = _device(device_id)
        async with self._admin() as admin:
            for command in revoke_commands(account, delete=True):  # one by one: either may miss
                try:
                    await admin.execute([command])
                except DynsecError as exc:
                    if not _not_found(exc):
                        raise
        log.info("dynsec: removed device %s", device_id)

    async def set_rights(self, accounts: Iterable[Account]) -> None:
        """Each device role's ACLs made equal to its `rights_for` (a missing role: skipped)."""
        s = self.settings
        async with self._admin() as admin:
            for account in accounts:
                rights = rights_for(
                    account, prefix=s.topic_prefix, ha_prefix=s.ha_discovery_prefix or None
                )
                try:
                    changed = await admin.set_role_acls(role_name(account), role_acls(rights))
                except DynsecError as exc:
                    if not _not_found(exc):
                        raise
                    log.warning("dynsec: no role for device %s, rights not set", account.name)
                    continue
                if changed:
                    log.info("dynsec: peer rights of device %s updated", account.name)


def provisioner(settings: Settings) -> DynsecProvisioner | None:
    return DynsecProvisioner(settings) if settings.mqtt_dynsec else None


def _run(call: Callable[[], Awaitable[T]], what: str) -> T:
    """Run on the event loop from a route's worker thread; broker trouble -> 503."""

    async def guarded() -> T:
        return await call()

    try:
        return anyio.from_thread.run(guarded)
    except (DynsecError, OSError) as exc:
        raise Unavailable(
            f"the broker refused or did not answer ({what}): {exc}", code=CODE
        ) from exc
    except Exception as exc:  # aiomqtt.MqttError and friends
        if type(exc).__module__.startswith("aiomqtt"):
            raise Unavailable(f"the broker is unreachable ({what}): {exc}", code=CODE) from exc
        raise


def device_created(settings: Settings, device_id: str, secret: str) -> None:
    """Call inside the transaction that creates the device (enroll, direct registration)."""
    if (p := provisioner(settings)) is not None:
        _run(lambda: p.add_device(device_id, secret), f"add {device_id}")


def secret_rotated(settings: Settings, device_id: str, secret: str) -> None:
    if (p := provisioner(settings)) is not None:
        _run(lambda: p.rotate(device_id, secret), f"rotate {device_id}")


def device_deleted(settings: Settings, device_id: str) -> None:
    if (p := provisioner(settings)) is not None:
        _run(lambda: p.delete(device_id), f"delete {device_id}")


def device_account(session: Session, device: t.Device) -> Account:
    """The broker account of a registered device, its peer rights from the registry."""
    return Account(
        AccountKind.DEVICE,
        device.id,
        peers=crud_peers.peers_of(session, device),
        clients=crud_peers.clients_of(session, device),
    )


def peers_changed(
    settings: Settings,
    session: Session,
    *,
    device_id: str,
    sites: Iterable[str | None],
    gateway: bool,
) -> None:
    """Call inside the transaction, once the change is flushed: `device_id` joined, left or
    changed in `sites` (`gateway`: it is or was a site gateway); the roles of the devices
    whose peer rights that moves are set again."""
    sites = tuple(sites)
    if (p := provisioner(settings)) is None or all(site is None for site in sites):
        return
    ids = crud_peers.affected(session, device_id=device_id, sites=sites, gateway=gateway)
    accounts = [device_account(session, d) for d in (session.get(t.Device, i) for i in ids) if d]
    _run(lambda: p.set_rights(accounts), f"peer rights of {device_id}'s site")
