"""`POST /api/v1/broker/auth` grants a device the sensor topics an admin set, nothing more."""

from collections.abc import AsyncIterator, Callable

import pytest

from cloud_hub.core.config import Settings
from tests.hub.conftest import Hub, running_hub

SERVICE_KEY = "svc-key-0123456789abcdef0123456789"


async def _auth(hub: Hub, device: str, secret: str) -> dict[str, object]:
    r = await hub.client.post(
        "/api/v1/broker/auth",
        headers={"Authorization": f"Bearer {SERVICE_KEY}"},
        json={"username": device, "password": secret, "client_id": device},
    )
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


@pytest.fixture
async def hub(make_settings: Callable[..., Settings]) -> AsyncIterator[Hub]:
    async for h in running_hub(make_settings(broker_service_key=SERVICE_KEY)):
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
