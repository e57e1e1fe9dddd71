"""Mosquitto dynamic security: initial config and live provisioning, ACLs from `broker.acl`.

`initial_config()` writes the JSON file Mosquitto's `mosquitto_dynamic_security.so` starts
from (an admin client for `$CONTROL`, the hub client). Devices, integrators and further hub
accounts are then added, revoked and removed at run time through
`$CONTROL/dynamic-security/v1` with `DynsecAdmin`: each gets its own role whose ACLs are
`rights_for(account)` translated to dynsec ACL types, so Mosquitto and the embedded amqtt
enforce the same table.

A device's rights follow the registry (its site's gateways, broker/acl.py), so its role's ACLs
are changed in place when they move: `role_acl_changes` adds the missing ACLs before it removes
the stale ones, so a right the device keeps never blinks off in between. Mosquitto (2.0)
disconnects the clients of a role whose ACLs change ("administrative action"); a device
reconnects under its new rights, and one whose rights did not change is left alone.

Every account but the admin is pinned to one client id (`pinned_client_id`): dynsec cannot
reserve a device's client id for that device, so pinning everyone else away from it is what
stops another identity from taking a device's id (and its session) on Mosquitto, as the
embedded broker refuses it. The admin stays unpinned: its short `$CONTROL` sessions run
concurrently under generated ids, and it can create any account anyway.
"""

import asyncio
import base64
import hashlib
import json
import secrets
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

import aiomqtt

from broker.acl import Account, AccountKind, Rights, rights_for
from contract.homeassistant import DEFAULT_HA_PREFIX
from contract.topics import DEFAULT_PREFIX

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
ITERATIONS = 101  # what `mosquitto_ctrl dynsec init` uses in 2.0
ADMIN_ROLE = "admin"
HUB_CLIENT_ID = "edgefleet-hub"
"""The hub's client id unless configured: `cloud_hub` `Settings.mqtt_client_id`'s default."""

Command = dict[str, Any]


class DynsecError(RuntimeError):
    """Mosquitto answered a dynamic-security command with an error, or did not answer."""


def hash_password(password: str, *, iterations: int = ITERATIONS) -> dict[str, Any]:
    """`password`/`salt`/`iterations` as dynsec stores them: PBKDF2-SHA512, base64."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": iterations,
    }


def role_acls(rights: Rights) -> list[dict[str, Any]]:
    """Dynsec ACLs granting exactly `rights` (everything else falls to the deny defaults)."""
    acls = [("publishClientSend", f) for f in rights.publish]
    acls += [("subscribePattern", f) for f in rights.subscribe]
    acls += [("publishClientReceive", f) for f in rights.read]
    return [{"acltype": kind, "topic": topic, "allow": True} for kind, topic in acls]


def role_name(account: Account) -> str:
    return f"{account.kind}-{account.name}"


def pinned_client_id(account: Account, client_id: str | None = None) -> str:
    """The one client id Mosquitto will accept for `account`.

    A device: its id (`client_id`, if given, must be the same). The hub: `client_id`, default
    `HUB_CLIENT_ID`; a hub replica (`EDGEFLEET_MQTT_REPLICA=a`) connects as
    `edgefleet-hub-a` and needs an account of its own pinned to that (e.g. `hub-a`). An
    integrator: `client_id`, default its account name (what Mosquitto users usually do).
    """
    match account.kind:
        case AccountKind.DEVICE:
            if client_id not in (None, account.name):
                raise ValueError(
                    f"device {account.name!r} is pinned to its own id, not {client_id!r}"
                )
            return account.name
        case AccountKind.HUB:
            return client_id or HUB_CLIENT_ID
        case AccountKind.INTEGRATOR:
            return client_id or account.name
        case _:
            raise ValueError(f"no dynsec account for {account.kind} clients")


def initial_config(
    *,
    admin: tuple[str, str],
    hub: tuple[str, str],
    hub_client_id: str = HUB_CLIENT_ID,
    prefix: str = DEFAULT_PREFIX,
    ha_prefix: str | None = DEFAULT_HA_PREFIX,
) -> dict[str, Any]:
    """The dynsec file to start Mosquitto with: (username, password) of admin and hub, the
    hub pinned to `hub_client_id` (the hub's `mqtt_client_id[-mqtt_replica]`)."""
    hub_account = Account(AccountKind.HUB, hub[0])
    control = f"{CONTROL_TOPIC.rsplit('/', 1)[0]}/#"
    admin_acls = [
        {"acltype": kind, "topic": control, "allow": True}
        for kind in ("publishClientSend", "publishClientReceive", "subscribePattern")
    ]
    return {
        "clients": [
            {"username": admin[0], **hash_password(admin[1]), "roles": [{"rolename": ADMIN_ROLE}]},
            {
                "username": hub[0],
                "clientid": pinned_client_id(hub_account, hub_client_id),
                **hash_password(hub[1]),
                "roles": [{"rolename": role_name(hub_account)}],
            },
        ],
        "roles": [
            {"rolename": ADMIN_ROLE, "acls": admin_acls},
            {
                "rolename": role_name(hub_account),
                "acls": role_acls(rights_for(hub_account, prefix=prefix, ha_prefix=ha_prefix)),
            },
        ],
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
    }


def add_account_commands(
    account: Account,
    password: str,
    *,
    client_id: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    ha_prefix: str | None = DEFAULT_HA_PREFIX,
) -> list[Command]:
    """createRole + createClient + addClientRole, the client pinned to one client id.

    `pinned_client_id(account, client_id)`: a device to its id, the hub to `client_id` or
    `edgefleet-hub`, an integrator to `client_id` or its account name. Dynsec cannot reserve
    a client id for its device, so pinning every account is the only way to keep the others
    off a device's id (Mosquitto would cut the device off and hand over its session).
    """
    role = role_name(account)
    client: Command = {
        "command": "createClient",
        "username": account.name,
        "password": password,
        "clientid": pinned_client_id(account, client_id),
    }
    return [
        {
            "command": "createRole",
            "rolename": role,
            "acls": role_acls(rights_for(account, prefix=prefix, ha_prefix=ha_prefix)),
        },
        client,
        {"command": "addClientRole", "username": account.name, "rolename": role},
    ]


def set_password_commands(account: Account, password: str) -> list[Command]:
    """setClientPassword: a rotated secret; Mosquitto keeps existing sessions connected, so
    callers that must cut the old secret off also kick the client (`kick_commands`)."""
    return [{"command": "setClientPassword", "username": account.name, "password": password}]


def kick_commands(account: Account) -> list[Command]:
    """Disconnect the client's current sessions (disable + enable: the account stays)."""
    return [
        {"command": "disableClient", "username": account.name},
        {"command": "enableClient", "username": account.name},
    ]


def revoke_commands(account: Account, *, delete: bool = False) -> list[Command]:
    """disableClient (reversible: enableClient) or deleteClient + deleteRole. Mosquitto
    disconnects a connected client at once in both cases."""
    if not delete:
        return [{"command": "disableClient", "username": account.name}]
    return [
        {"command": "deleteClient", "username": account.name},
        {"command": "deleteRole", "rolename": role_name(account)},
    ]


def _acl_key(acl: dict[str, Any]) -> tuple[str, str]:
    return str(acl.get("acltype")), str(acl.get("topic"))


def role_acl_changes(
    rolename: str, current: Iterable[dict[str, Any]], wanted: Iterable[dict[str, Any]]
) -> tuple[list[Command], list[Command]]:
    """(addRoleACL for wanted ACLs the role lacks, removeRoleACL for those it must lose).

    ACLs are told apart by (acltype, topic), as dynsec does; run the adds first."""
    have = {_acl_key(a) for a in current}
    want = {_acl_key(a): a for a in wanted}
    adds = [
        {"command": "addRoleACL", "rolename": rolename, **acl}
        for key, acl in want.items()
        if key not in have
    ]
    removes = [
        {"command": "removeRoleACL", "rolename": rolename, "acltype": kind, "topic": topic}
        for kind, topic in sorted(have - want.keys())
    ]
    return adds, removes


class DynsecAdmin:
    """An admin connection to `$CONTROL/dynamic-security/v1` that runs command batches."""

    def __init__(
        self, host: str, port: int, username: str, password: str, *, timeout_s: float = 10.0
    ) -> None:
        self._client = aiomqtt.Client(
            host,
            port,
            username=username,
            password=password,
            protocol=aiomqtt.ProtocolVersion.V311,
        )
        self._timeout = timeout_s

    async def __aenter__(self) -> Self:
        await self._client.__aenter__()
        await self._client.subscribe(RESPONSE_TOPIC, qos=1)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.__aexit__(exc_type, exc, tb)

    async def execute(self, commands: Iterable[Command]) -> list[dict[str, Any]]:
        """Send one batch; return the responses, raising DynsecError if any failed."""
        batch = list(commands)
        await self._client.publish(CONTROL_TOPIC, json.dumps({"commands": batch}), qos=1)
        try:
            async with asyncio.timeout(self._timeout):
                message = await anext(aiter(self._client.messages))
        except TimeoutError:
            raise DynsecError(f"no answer on {RESPONSE_TOPIC} in {self._timeout}s") from None
        payload = message.payload
        raw = payload if isinstance(payload, bytes | str) else b"{}"
        responses: list[dict[str, Any]] = json.loads(raw).get("responses", [])
        errors = [f"{r.get('command')}: {r['error']}" for r in responses if r.get("error")]
        if errors:
            raise DynsecError("; ".join(errors))
        return responses

    async def add_account(
        self,
        account: Account,
        password: str,
        *,
        client_id: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        ha_prefix: str | None = DEFAULT_HA_PREFIX,
    ) -> None:
        commands = add_account_commands(
            account, password, client_id=client_id, prefix=prefix, ha_prefix=ha_prefix
        )
        await self.execute(commands)

    async def set_role_acls(self, rolename: str, acls: list[dict[str, Any]]) -> bool:
        """Make the role's ACLs exactly `acls` (adds first); False when nothing changed."""
        (answer,) = await self.execute([{"command": "getRole", "rolename": rolename}])
        current = answer.get("data", {}).get("role", {}).get("acls", [])
        adds, removes = role_acl_changes(rolename, current, acls)
        for batch in (adds, removes):
            if batch:
                await self.execute(batch)
        return bool(adds or removes)

    async def revoke(self, account: Account, *, delete: bool = False) -> None:
        await self.execute(revoke_commands(account, delete=delete))
