"""A real hub on a free loopback port (uvicorn in the test's loop, SQLite file), enrolled
devices, and what the hub sent them (NullCommander when MQTT is off)."""

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud_hub.core.config import Settings
from cloud_hub.main import create_app
from cloud_hub.serving import served
from tests.fixtures.ports import free_port

ADMIN_KEY = "efk_test-admin-key-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def basic(device_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{device_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@dataclass
class LiveHub:
    url: str
    settings: Settings
    app: Any
    client: httpx.AsyncClient
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def sent(self) -> list[tuple[str, str, dict[str, Any]]]:
        sent: list[tuple[str, str, dict[str, Any]]] = self.app.state.registry.commander.sent
        return sent

    async def enroll(self, device_id: str, **body: Any) -> str:
        r = await self.client.post(
            "/api/v1/devices",
            headers=ADMIN,
            json={"id": device_id, "capabilities": ["engine-fault"], **body},
        )
        assert r.status_code == 201, r.text
        secret: str = r.json()["device_secret"]
        self.secrets[device_id] = secret
        return secret

    def auth(self, device_id: str) -> dict[str, str]:
        return basic(device_id, self.secrets[device_id])

    async def wait_round(self, round_id: int, *states: str, within: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                r = await self.client.get(f"/api/v1/fl/rounds/{round_id}", headers=ADMIN)
                body: dict[str, Any] = r.json()
                if body["state"] in states:
                    return body
                await asyncio.sleep(0.05)


async def serve(settings: Settings) -> AsyncIterator[LiveHub]:
    app = create_app(settings)
    async with (
        served(app, port=settings.port) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield LiveHub(url, settings, app, client)


def hub_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "hub",
        "admin_api_key": ADMIN_KEY,
        "mqtt_enabled": False,
        "log_json": False,
        "port": free_port(),
        "maintenance_interval_s": 3600.0,
        "fl_tick_s": 0.1,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def live_hub(tmp_path: Path) -> AsyncIterator[LiveHub]:
    async for hub in serve(hub_settings(tmp_path)):
        yield hub
