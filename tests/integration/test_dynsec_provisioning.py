"""The hub provisions device accounts in Mosquitto's dynamic security (`mqtt_dynsec` on),
against Debian's mosquitto: enroll -> the device connects and its ACLs hold; rotation -> only
the new secret works; delete -> refused; a broker that refuses -> 503 and no device."""

import asyncio
from collections.abc import Callable

import pytest

from cloud_hub.core.config import Settings
from contract import Kind, Topics
from tests.fixtures.brokers import SecuredBroker
from tests.fixtures.mqtt import MqttProbe
from tests.hub.conftest import running_hub
from tests.integration.test_hub_auth import connect_rc

pytestmark = [pytest.mark.mosquitto, pytest.mark.parametrize("database_url", ["sqlite"],
                                                             indirect=True)]  # fmt: skip
T = Topics()
D, OTHER = "cam-1", "cam-2"
TIMEOUT = 10.0


def probe_as(broker: SecuredBroker, username: str, password: str, client_id: str) -> MqttProbe:
    probe = MqttProbe(broker.host, broker.port, client_id=client_id)
    probe._client.username_pw_set(username, password)
    return probe.connect()


def hub_settings(make: Callable[..., Settings], broker: SecuredBroker, password: str) -> Settings:
    assert broker.admin is not None
    return make(
        mqtt_host=broker.host, mqtt_port=broker.port, mqtt_dynsec=True,
        mqtt_dynsec_username=broker.admin[0], mqtt_dynsec_password=password,
    )  # fmt: skip


async def test_enroll_rotate_delete_reach_mosquitto(
    make_settings: Callable[..., Settings], dynsec_mosquitto_broker: SecuredBroker
) -> None:
    broker = dynsec_mosquitto_broker
    assert broker.admin is not None
    settings = hub_settings(make_settings, broker, broker.admin[1])
    async for hub in running_hub(settings):
        secret = (await hub.enroll(D))["device_secret"]
        other = (await hub.enroll(OTHER))["device_secret"]
        assert await asyncio.to_thread(connect_rc, broker.port, D, secret, D) == 0
        assert await asyncio.to_thread(connect_rc, broker.port, D, secret, "spoof") != 0
        assert await asyncio.to_thread(connect_rc, broker.port, D, "wrong", D) != 0

        # the role from broker.acl holds: own topics yes, another device's no
        watcher = probe_as(broker, *broker.hub, broker.hub_client_id)  # pinned
        device = probe_as(broker, D, secret, D)
        intruder = probe_as(broker, OTHER, other, OTHER)
        try:
            watcher.subscribe(f"{T.prefix}/#", "homeassistant/device/+/config")
            await asyncio.to_thread(device.publish, T.error(D), b"{}")
            await asyncio.to_thread(device.publish, "homeassistant/device/edgefleet_cam-1/config",
                                    b"{}")  # fmt: skip
            await asyncio.to_thread(intruder.publish, T.status(D), b"forged")
            await asyncio.to_thread(intruder.publish, T.error(OTHER), b"sentinel")
            await asyncio.to_thread(watcher.wait_for, T.error(OTHER), TIMEOUT)
            seen = {m.topic: m.payload for m in watcher.messages}
            assert T.error(D) in seen
            assert "homeassistant/device/edgefleet_cam-1/config" in seen
            assert T.status(D) not in seen  # the forged status was dropped
            # a subscription to another device's commands delivers nothing (SUBACK 0x80)
            intruder.subscribe(T.filter(Kind.CMD, D), T.filter(Kind.CMD, OTHER))
            await asyncio.to_thread(watcher.publish, T.cmd(D, "ping"), b"{}")
            await asyncio.to_thread(watcher.publish, T.cmd(OTHER, "ping"), b"sentinel")
            await asyncio.to_thread(intruder.wait_for, T.cmd(OTHER, "ping"), TIMEOUT)
            assert [m.topic for m in intruder.messages] == [T.cmd(OTHER, "ping")]
        finally:
            for probe in (watcher, device, intruder):
                probe.close()

        # rotation: the old secret stops working, the new one works
        r = await hub.client.post(f"/api/v1/devices/{D}/secret", headers=hub.admin)
        assert r.status_code == 200, r.text
        new = r.json()["device_secret"]
        assert await asyncio.to_thread(connect_rc, broker.port, D, secret, D) != 0
        assert await asyncio.to_thread(connect_rc, broker.port, D, new, D) == 0

        # delete: refused from now on
        r = await hub.client.delete(f"/api/v1/devices/{D}", headers=hub.admin)
        assert r.status_code == 204, r.text
        assert await asyncio.to_thread(connect_rc, broker.port, D, new, D) != 0
        assert await asyncio.to_thread(connect_rc, broker.port, OTHER, other, OTHER) == 0


async def test_broker_refusal_fails_enrollment_and_leaves_no_device(
    make_settings: Callable[..., Settings], dynsec_mosquitto_broker: SecuredBroker
) -> None:
    broker = dynsec_mosquitto_broker
    settings = hub_settings(make_settings, broker, "not-the-admin-password")
    async for hub in running_hub(settings):
        token = await hub.client.post("/api/v1/enrollment-tokens", headers=hub.admin,
                                      json={"name": "t"})  # fmt: skip
        r = await hub.client.post(
            "/api/v1/enroll", json={"device_id": D},
            headers={"Authorization": f"Bearer {token.json()['token']}"},
        )  # fmt: skip
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "broker_provisioning_failed"
        r = await hub.client.get(f"/api/v1/devices/{D}", headers=hub.admin)
        assert r.status_code == 404  # rolled back with the broker's refusal
