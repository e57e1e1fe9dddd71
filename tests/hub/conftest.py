"""Hub fixtures: a real database (SQLite file or throwaway PostgreSQL) and the app in-process.

`database_url` is parametrized over both databases, so every API test runs on each.
"""

import asyncio
import base64
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from cloud_hub.core.config import Settings
from cloud_hub.core.db import upgrade
from cloud_hub.db.tables import Base
from cloud_hub.main import create_app
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.postgres import PostgresServer

ADMIN_KEY = "efk_test-admin-key-0123456789abcdef"


def _migrate(url: str) -> None:
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; tests copy it (the lifespan's upgrade is then a no-op)."""
    path = tmp_path_factory.mktemp("hub-template") / "hub.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_hub_database(postgres_server: PostgresServer) -> str:
    """One migrated database for the session; each test starts from emptied tables
    (TRUNCATE takes ~20 ms where CREATE DATABASE takes ~300 ms)."""
    name = postgres_server.create_database()
    _migrate(postgres_server.url(name))
    return postgres_server.url(name)


def _empty_tables(url: str) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty hub database: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "hub.db")
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    url: str = request.getfixturevalue("postgres_hub_database")
    _empty_tables(url)
    yield url


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "admin_api_key": ADMIN_KEY,
            "mqtt_enabled": False,
            "log_json": False,
            "maintenance_interval_s": 3600.0,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@dataclass
class Hub:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    async def enroll(self, device_id: str, **body: Any) -> dict[str, Any]:
        token = await self.client.post(
            "/api/v1/enrollment-tokens", headers=self.admin, json={"name": f"for {device_id}"}
        )
        assert token.status_code == 201, token.text
        r = await self.client.post(
            "/api/v1/enroll",
            json={"device_id": device_id, **body},
            headers={"Authorization": f"Bearer {token.json()['token']}"},
        )
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out


def basic(device_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{device_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def running_hub(settings: Settings, **kwargs: Any) -> AsyncIterator[Hub]:
    app = create_app(settings, **kwargs)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield Hub(app, client, settings)


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[Hub]:
    async for h in running_hub(settings):
        yield h


@pytest.fixture
async def bridged(
    make_settings: Callable[..., Settings], broker: BrokerProcess
) -> AsyncIterator[Hub]:
    """A hub in-process whose MQTT bridge is connected to `broker` (both brokers), flushing
    ingest batches every 20 ms; a test module may override it with its own broker or settings."""
    settings = make_settings(
        mqtt_enabled=True, mqtt_port=broker.port, mqtt_username=None, ingest_flush_s=0.02
    )
    async for hub in running_hub(settings):
        await asyncio.wait_for(hub.app.state.bridge.connected.wait(), 15)
        yield hub
