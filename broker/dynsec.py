"""Mosquitto dynamic security: initial config and live provisioning, ACLs from `broker.acl`.

`initial_config()` writes the JSON file Mosquitto's `mosquitto_dynamic_security.so` starts
from (an admin client for `$CONTROL`, the hub client). Devices and integrators are then
added, revoked and removed at run time through `$CONTROL/dynamic-security/v1` with
`DynsecAdmin`: each gets its own role whose ACLs are `rights_for(account)` translated to
dynsec ACL types, so Mosquitto and the embedded amqtt enforce the same table.
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


def initial_config(
    *,
    admin: tuple[str, str],
    hub: tuple[str, str],
    prefix: str = DEFAULT_PREFIX,
    ha_prefix: str | None = DEFAULT_HA_PREFIX,
) -> dict[str, Any]:
    """The dynsec file to start Mosquitto with: (username, password) of admin and hub."""
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
    """createRole + createClient + addClientRole; a device is pinned to its id as client id.

    `client_id` pins another account to one client id. Dynsec cannot reserve a client id for
    its device, so pinning is the only way to keep an integrator off a device's id (Mosquitto
    would hand it the device's session); the hub uses many ids and stays unpinned.
    """
    role = role_name(account)
    client: Command = {"command": "createClient", "username": account.name, "password": password}
    pinned = account.name if account.kind is AccountKind.DEVICE else client_id
    if pinned is not None:
        client["clientid"] = pinned
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

    async def revoke(self, account: Account, *, delete: bool = False) -> None:
        await self.execute(revoke_commands(account, delete=delete))
