"""Embedded amqtt authenticating against the hub registry: devices, revocation within the TTL."""

import asyncio
import time
from collections.abc import Callable

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.server import running_broker
from broker.settings import BrokerSettings
from cloud_hub.core.config import Settings
from cloud_hub.main import create_app
from cloud_hub.serving import served
from tests.hub.conftest import ADMIN_KEY

SERVICE_KEY = "svc-key-0123456789abcdef0123"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TTL = 1.0


def connect_rc(port: int, username: str, password: str, client_id: str) -> int:
    """CONNACK code of one MQTT 3.1.1 CONNECT: 0 accepted, 5 not authorized (paho reports
    3.1.1's 5 as reason code 135, its MQTT 5 name; we map it back)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
    client.username_pw_set(username, password)
    codes: list[int] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: codes.append({135: 5}.get(rc.value, rc.value))
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 10
    while not codes and time.monotonic() < deadline:
        client.loop(0.05)
    client.disconnect()
    assert codes, "no CONNACK"
    return codes[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_devices_checked_against_registry_and_revocation_honoured(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        broker_service_key=SERVICE_KEY, mqtt_username="hub", mqtt_password="hub-password-0123456789"
    )
    async with served(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        # the route itself: service key required
        r = await http.post(
            "/api/v1/broker/auth", json={"username": "x", "password": "y", "client_id": "x"}
        )
        assert r.status_code == 401
        created = await http.post("/api/v1/devices", headers=ADMIN, json={"id": "cam-1"})
        assert created.status_code == 201, created.text
        secret = created.json()["device_secret"]
        broker_settings = BrokerSettings(
            port=0,
            hub_url=url,
            hub_service_key=SERVICE_KEY,
            auth_cache_ttl_s=TTL,
            persistence=False,
        )
        async with running_broker(broker_settings) as broker:
            rc = await asyncio.to_thread(connect_rc, broker.port, "cam-1", secret, "cam-1")
            assert rc == 0
            for user, pw, cid in [
                ("cam-1", "wrong", "cam-1"),
                ("cam-1", secret, "other"),
                ("nobody", secret, "nobody"),
                ("hub", "wrong", "h"),
            ]:
                assert await asyncio.to_thread(connect_rc, broker.port, user, pw, cid) == 5
            assert (
                await asyncio.to_thread(
                    connect_rc, broker.port, "hub", "hub-password-0123456789", "edgefleet-hub"
                )
                == 0
            )
            # revoke (rotate the secret, then delete): refused within the cache TTL
            rotated = await http.post("/api/v1/devices/cam-1/secret", headers=ADMIN)
            new_secret = rotated.json()["device_secret"]
            revoked_at = time.monotonic()
            while await asyncio.to_thread(connect_rc, broker.port, "cam-1", secret, "cam-1") == 0:
                assert time.monotonic() - revoked_at < TTL + 2, "old secret still accepted"
            assert (
                await asyncio.to_thread(connect_rc, broker.port, "cam-1", new_secret, "cam-1") == 0
            )
            assert (await http.delete("/api/v1/devices/cam-1", headers=ADMIN)).status_code == 204
            deleted_at = time.monotonic()
            while (
                await asyncio.to_thread(connect_rc, broker.port, "cam-1", new_secret, "cam-1") == 0
            ):
                assert time.monotonic() - deleted_at < TTL + 2, "deleted device still accepted"
