"""Peer rights follow the registry on Mosquitto (`mqtt_dynsec` on), through the hub's routes:
a gateway registers -> its site's devices may offload to it and it may answer them; a device
created in the site gains it at once; a device moved to another site, or a gateway that
deregisters, loses it. The hub's `#` subscription sees whatever the broker delivers, and a
sentinel after each probe on the same connection marks the probe as handled (no sleeps).

Mosquitto disconnects the clients of a role whose ACLs change ("administrative action"), so
the devices connect again after each change, as agents do."""

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from cloud_hub.core.config import Settings
from contract import Topics
from contract.peers import PEER_SERVICE, PeerOffer
from tests.broker.test_acl_matrix import Account
from tests.fixtures.brokers import SecuredBroker
from tests.hub.conftest import Hub, basic, running_hub

pytestmark = [
    pytest.mark.mosquitto,
    pytest.mark.timeout(90),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
T = Topics()
DEVICES = "/api/v1/devices"
OFFER = PeerOffer(models=["face"], workers=1).model_dump()


async def _create(hub: Hub, device_id: str, site: str) -> str:
    r = await hub.client.post(DEVICES, headers=hub.admin, json={"id": device_id, "site": site})
    assert r.status_code == 201, r.text
    secret: str = r.json()["device_secret"]
    return secret


async def _delivered(watcher: Account, sender: Account, topic: str, payload: bytes) -> bool:
    """Publish as `sender`, then a sentinel on its own event topic; True if the broker let the
    message through (the watcher reads everything delivered)."""
    sentinel = f"sentinel {payload.decode()}".encode()

    def run() -> bool:
        sender.publish_all([(topic, payload), (T.event(sender.name, "sentinel"), sentinel)])
        watcher.wait_for_payload(sentinel)
        return (topic, payload) in watcher.messages

    return await asyncio.to_thread(run)


async def test_gateway_rights_follow_registration_site_and_creation(
    make_settings: Callable[..., Settings], dynsec_mosquitto_broker: SecuredBroker
) -> None:
    broker = dynsec_mosquitto_broker
    assert broker.admin is not None
    settings = make_settings(
        mqtt_host=broker.host, mqtt_port=broker.port, mqtt_dynsec=True,
        mqtt_dynsec_username=broker.admin[0], mqtt_dynsec_password=broker.admin[1],
    )  # fmt: skip
    devices: dict[str, Account] = {}

    def reconnect() -> None:
        """Every device connection anew, after a change that may have kicked it."""
        for name, old in list(devices.items()):
            old.close()
            devices[name] = Account(broker, name, secrets[name], name)

    def connect(name: str) -> Account:
        devices[name] = Account(broker, name, secrets[name], name)
        return devices[name]

    hub_mqtt = Account(broker, *broker.hub, client_id=broker.hub_client_id)
    async for hub in running_hub(settings):
        secrets = {d: await _create(hub, d, "site-a") for d in ("a1", "ga")}
        secrets["b1"] = await _create(hub, "b1", "site-b")
        try:
            assert await asyncio.to_thread(hub_mqtt.subscribe, [f"{T.prefix}/#"]) == [True]
            for name in ("a1", "ga"):
                await asyncio.to_thread(connect, name)
            infer = T.infer("ga", "face", "r1")
            assert not await _delivered(hub_mqtt, devices["a1"], infer, b"before registration")

            service: dict[str, Any] = {"service_id": PEER_SERVICE, "address": "ga",
                                       "metadata": OFFER}  # fmt: skip
            r = await hub.client.put(
                f"{DEVICES}/ga/service", headers=basic("ga", secrets["ga"]), json=service
            )
            assert r.status_code == 200, r.text
            await asyncio.to_thread(reconnect)
            a1, ga = devices["a1"], devices["ga"]
            assert await _delivered(hub_mqtt, a1, infer, b"registered")
            assert await _delivered(hub_mqtt, ga, T.reply("a1", "r1"), b"answer a1")
            assert not await _delivered(hub_mqtt, ga, T.reply("b1", "r1"), b"answer b1")
            assert not await _delivered(hub_mqtt, a1, T.cmd("ga", "reload"), b"cmd")

            # a device created in the site is the gateway's client at once, and vice versa
            secrets["a2"] = await _create(hub, "a2", "site-a")
            await asyncio.to_thread(reconnect)
            a2 = await asyncio.to_thread(connect, "a2")
            assert await _delivered(hub_mqtt, devices["ga"], T.reply("a2", "r1"), b"answer a2")
            assert await _delivered(hub_mqtt, a2, infer, b"a2 offloads")

            # moved to another site: no more offloading there, no more answers to it
            r = await hub.client.patch(f"{DEVICES}/a2", headers=hub.admin, json={"site": "site-b"})
            assert r.status_code == 200, r.text
            await asyncio.to_thread(reconnect)
            assert not await _delivered(hub_mqtt, devices["a2"], infer, b"a2 moved")
            assert not await _delivered(hub_mqtt, devices["ga"], T.reply("a2", "r2"), b"moved")

            # deregistered: the site's devices lose it, what they keep still works
            r = await hub.client.delete(f"{DEVICES}/ga/service", headers=basic("ga", secrets["ga"]))
            assert r.status_code == 200, r.text
            await asyncio.to_thread(reconnect)
            a1, ga = devices["a1"], devices["ga"]
            assert not await _delivered(hub_mqtt, a1, infer, b"deregistered")
            assert not await _delivered(hub_mqtt, ga, T.reply("a1", "r2"), b"answer after")
            assert await _delivered(hub_mqtt, a1, T.error("a1"), b"own topic")
        finally:
            for account in (hub_mqtt, *devices.values()):
                await asyncio.to_thread(account.close)
