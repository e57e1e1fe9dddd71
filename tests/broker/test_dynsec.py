"""`broker.dynsec`: the dynsec file and commands, and revocation on a real Mosquitto."""

import asyncio
import base64
import hashlib

import pytest

from broker.acl import Account, AccountKind
from broker.dynsec import (
    HUB_CLIENT_ID,
    DynsecAdmin,
    add_account_commands,
    initial_config,
    revoke_commands,
)
from tests.broker.test_acl_matrix import connack_code
from tests.fixtures.brokers import SecuredBroker

CAM = Account(AccountKind.DEVICE, "cam-1")


def test_initial_config_passwords_verify_like_mosquitto() -> None:
    config = initial_config(admin=("admin", "a-secret"), hub=("hub", "h-secret"))
    admin = config["clients"][0]
    digest = hashlib.pbkdf2_hmac(
        "sha512", b"a-secret", base64.b64decode(admin["salt"]), admin["iterations"]
    )
    assert base64.b64encode(digest).decode() == admin["password"]
    assert config["defaultACLAccess"]["subscribe"] is False
    assert config["defaultACLAccess"]["publishClientReceive"] is False


def test_device_role_acls_come_from_the_acl_rules() -> None:
    role, client, link = add_account_commands(CAM, "pw")
    acls = {(a["acltype"], a["topic"]) for a in role["acls"]}
    assert ("publishClientSend", "edgefleet/v1/cam-1/status") in acls
    assert ("subscribePattern", "edgefleet/v1/cam-1/cmd/+") in acls
    assert ("publishClientReceive", "edgefleet/v1/cam-1/infer/#") in acls
    assert not any("cam-2" in topic or topic.endswith("/+/cmd/+") for _, topic in acls)
    assert client == {"command": "createClient", "username": "cam-1", "password": "pw",
                      "clientid": "cam-1"}  # fmt: skip
    assert link == {"command": "addClientRole", "username": "cam-1", "rolename": role["rolename"]}


def test_initial_config_pins_the_hub_and_not_the_admin() -> None:
    admin, hub = initial_config(admin=("admin", "a"), hub=("hub", "h"))["clients"]
    assert hub["clientid"] == HUB_CLIENT_ID == "edgefleet-hub"  # Settings.mqtt_client_id
    assert "clientid" not in admin  # concurrent $CONTROL sessions under generated ids
    config = initial_config(admin=("admin", "a"), hub=("hub", "h"), hub_client_id="hub-ingest")
    assert config["clients"][1]["clientid"] == "hub-ingest"


@pytest.mark.parametrize(
    ("kind", "name", "client_id", "pinned"),
    [
        (AccountKind.DEVICE, "cam-1", None, "cam-1"),
        (AccountKind.DEVICE, "cam-1", "cam-1", "cam-1"),
        (AccountKind.HUB, "hub", None, "edgefleet-hub"),
        (AccountKind.HUB, "hub-a", "edgefleet-hub-a", "edgefleet-hub-a"),  # a replica's own
        (AccountKind.INTEGRATOR, "acme", None, "acme"),
        (AccountKind.INTEGRATOR, "acme", "acme-1", "acme-1"),
    ],
)
def test_every_account_is_pinned_to_one_client_id(
    kind: AccountKind, name: str, client_id: str | None, pinned: str
) -> None:
    _, client, _ = add_account_commands(Account(kind, name), "pw", client_id=client_id)
    assert client["clientid"] == pinned


def test_a_device_cannot_be_pinned_to_another_id() -> None:
    with pytest.raises(ValueError, match="pinned to its own id"):
        add_account_commands(CAM, "pw", client_id="cam-2")


@pytest.mark.mosquitto
@pytest.mark.parametrize("delete", [False, True])
def test_revocation_refuses_the_device(
    dynsec_mosquitto_broker: SecuredBroker, delete: bool
) -> None:
    broker = dynsec_mosquitto_broker
    password = broker.add_devices(["cam-1"])["cam-1"]
    assert connack_code(broker, "cam-1", "cam-1", password) == 0

    async def revoke() -> None:
        assert broker.admin is not None
        async with DynsecAdmin(broker.host, broker.port, *broker.admin) as control:
            await control.execute(revoke_commands(CAM, delete=delete))

    asyncio.run(revoke())
    assert connack_code(broker, "cam-1", "cam-1", password) != 0
