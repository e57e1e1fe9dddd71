"""`POST /api/v1/broker/auth` grants a device the sensor topics an admin set, nothing more, and
keeps a registered device's client id for that device."""

from collections.abc import AsyncIterator, Callable

import pytest

from cloud_hub.core.config import Settings
from tests.hub.conftest import Hub, running_hub

SERVICE_KEY = "svc-key-0123456789abcdef0123456789"


async def _auth(
    hub: Hub, device: str, secret: str, client_id: str | None = None
) -> dict[str, object]:
    r = await hub.client.post(
        "/api/v1/broker/auth",
        headers={"Authorization": f"Bearer {SERVICE_KEY}"},
        json={"username": device, "password": secret, "client_id": client_id or device},
    )
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


HUB_MQTT = ("hub-mqtt", "hub-mqtt-password-0123456789")


@pytest.fixture
async def hub(make_settings: Callable[..., Settings]) -> AsyncIterator[Hub]:
    settings = make_settings(
        broker_service_key=SERVICE_KEY, mqtt_username=HUB_MQTT[0], mqtt_password=HUB_MQTT[1]
    )
    async for h in running_hub(settings):
        yield h


async def test_device_reads_admin_set_sensor_topics_only(hub: Hub) -> None:
    # A device cannot grant itself sensor rights at enrollment ...
    creds = await hub.enroll("cam-7", metadata={"sensor_topics": ["#"], "room": "door"})
    device, secret = str(creds["device_id"]), str(creds["device_secret"])
    answer = await _auth(hub, device, secret)
    assert answer["allow"] is True
    assert "read" not in answer["account"]  # type: ignore[operator]
    # ... an admin can, and filters reaching into the contract prefix are dropped.
    r = await hub.client.patch(
        f"/api/v1/devices/{device}",
        headers=hub.admin,
        json={"metadata": {"sensor_topics": ["sensors/door/jpeg", "edgefleet/v1/+/cmd/#"]}},
    )
    assert r.status_code == 200, r.text
    answer = await _auth(hub, device, secret)
    assert answer["account"]["read"] == ["sensors/door/jpeg"]  # type: ignore[index]


async def test_a_devices_client_id_is_refused_to_every_other_account(hub: Hub) -> None:
    creds = await hub.enroll("cam-8")
    device, secret = str(creds["device_id"]), str(creds["device_secret"])
    assert (await _auth(hub, *HUB_MQTT, client_id="hub-bridge-1"))["allow"] is True
    assert (await _auth(hub, *HUB_MQTT, client_id=device))["allow"] is False
    assert (await _auth(hub, device, secret))["allow"] is True  # the device itself
