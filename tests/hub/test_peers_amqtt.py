"""Peer rights on the embedded amqtt authenticating against the hub: a gateway's registration
reaches its site's devices through the broker-auth answer, from their next CONNECT (amqtt
keeps an account for the whole connection; `auth_cache_ttl_s` 0 here, so a reconnect asks
the hub again). The hub's `#` subscription sees whatever the broker delivers; a sentinel
after each probe on the same connection marks it as handled (no sleeps)."""

import asyncio
from collections.abc import Callable

import httpx
import pytest

from broker.server import running_broker
from broker.settings import BrokerSettings
from cloud_hub.core.config import Settings
from cloud_hub.main import create_app
from cloud_hub.serving import served
from contract import Topics
from contract.peers import PEER_SERVICE, PeerOffer
from tests.broker.test_acl_matrix import Account
from tests.hub.conftest import ADMIN_KEY, basic

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
T = Topics()
SERVICE_KEY = "svc-key-0123456789abcdef0123"
HUB = ("hub", "hub-password-0123456789")
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SERVICE = {"service_id": PEER_SERVICE, "address": "ga",
           "metadata": PeerOffer(models=["face"], workers=1).model_dump()}  # fmt: skip


def _delivered(watcher: Account, sender: Account, topic: str, payload: bytes) -> bool:
    sentinel = b"sentinel " + payload
    sender.publish_all([(topic, payload), (T.event(sender.name, "sentinel"), sentinel)])
    watcher.wait_for_payload(sentinel)
    return (topic, payload) in watcher.messages


async def test_registration_reaches_amqtt_from_the_next_connect(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        broker_service_key=SERVICE_KEY, mqtt_username=HUB[0], mqtt_password=HUB[1]
    )
    async with served(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        secrets = {}
        for device in ("a1", "ga"):
            r = await http.post("/api/v1/devices", headers=ADMIN,
                                json={"id": device, "site": "site-a"})  # fmt: skip
            assert r.status_code == 201, r.text
            secrets[device] = r.json()["device_secret"]
        broker_settings = BrokerSettings(
            port=0, hub_url=url, hub_service_key=SERVICE_KEY, auth_cache_ttl_s=0,
            persistence=False,
        )  # fmt: skip
        async with running_broker(broker_settings) as broker:

            def connect(name: str) -> Account:
                return Account(broker, name, secrets[name], name)

            hub = await asyncio.to_thread(Account, broker, *HUB, "edgefleet-hub")
            a1 = await asyncio.to_thread(connect, "a1")
            try:
                assert await asyncio.to_thread(hub.subscribe, [f"{T.prefix}/#"]) == [True]
                infer = T.infer("ga", "face", "r1")
                assert not await asyncio.to_thread(_delivered, hub, a1, infer, b"before")

                r = await http.put("/api/v1/devices/ga/service", headers=basic("ga", secrets["ga"]),
                                   json=SERVICE)  # fmt: skip
                assert r.status_code == 200, r.text
                # the connection a1 already had keeps the account it connected with
                assert not await asyncio.to_thread(_delivered, hub, a1, infer, b"same connection")
                await asyncio.to_thread(a1.close)
                a1 = await asyncio.to_thread(connect, "a1")
                assert await asyncio.to_thread(_delivered, hub, a1, infer, b"reconnected")
                assert not await asyncio.to_thread(_delivered, hub, a1, T.cmd("ga", "x"), b"cmd")
            finally:
                for account in (hub, a1):
                    await asyncio.to_thread(account.close)
