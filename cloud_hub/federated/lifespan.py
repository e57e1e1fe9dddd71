"""Start and stop the registry, the round service and their ticker with the hub."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio
from fastapi import FastAPI

from cloud_hub.core.config import Settings
from cloud_hub.core.db import Database
from cloud_hub.federated.rounds import RoundService
from cloud_hub.registry.commander import Commander, MqttCommander, NullCommander
from cloud_hub.registry.service import Registry

log = logging.getLogger(__name__)


async def _tick(rounds: RoundService, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await anyio.to_thread.run_sync(rounds.tick)
        except Exception:
            log.exception("federated/deployment tick failed")


@asynccontextmanager
async def learning(
    app: FastAPI, db: Database, settings: Settings, commander: Commander | None = None
) -> AsyncIterator[None]:
    """`app.state.registry` and `app.state.rounds` for the routes, a deadline ticker task."""
    mqtt: MqttCommander | None = None
    if commander is None:
        if settings.mqtt_enabled:
            commander = mqtt = MqttCommander(settings)
            mqtt.start()
        else:
            commander = NullCommander()
    registry = await anyio.to_thread.run_sync(Registry, db, settings, commander)
    app.state.registry = registry
    app.state.rounds = rounds = RoundService(db, registry)
    ticker = asyncio.create_task(_tick(rounds, settings.fl_tick_s), name="fl-tick")
    try:
        yield
    finally:
        ticker.cancel()
        with suppress(asyncio.CancelledError):
            await ticker
        if mqtt is not None:
            await anyio.to_thread.run_sync(mqtt.stop)
