"""Start and stop the registry, the round service, its round tasks and their ticker (which
also starts automatic rounds) with the hub; the ticker works on the leader replica only.
Commands go out through the hub's messenger (its one MQTT session), or are only recorded when
MQTT is off."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio
from fastapi import FastAPI

from cloud_hub.core.config import Settings
from cloud_hub.core.db import Database
from cloud_hub.core.leader import Leadership
from cloud_hub.federated.auto import AutoRounds
from cloud_hub.federated.rounds import RoundService
from cloud_hub.ingest.messenger import Messenger
from cloud_hub.registry.commander import Commander, MqttCommander, NullCommander
from cloud_hub.registry.service import Registry

log = logging.getLogger(__name__)


async def _tick(
    rounds: RoundService, auto: AutoRounds, leadership: Leadership, every_s: float
) -> None:
    """Deadlines, canaries and automatic rounds on the leader replica only
    (`cloud_hub/core/leader.py`)."""
    while True:
        await asyncio.sleep(every_s)
        if not leadership.leading:
            continue
        try:
            await anyio.to_thread.run_sync(rounds.tick)
            if auto.rules:
                await anyio.to_thread.run_sync(auto.check)
        except Exception:
            log.exception("federated/deployment tick failed")


@asynccontextmanager
async def learning(
    app: FastAPI, db: Database, settings: Settings, commander: Commander | None = None
) -> AsyncIterator[None]:
    """`app.state.registry` and `app.state.rounds` for the routes, a deadline ticker task."""
    if commander is None:
        messenger: Messenger | None = getattr(app.state, "messenger", None)
        commander = MqttCommander(messenger) if messenger is not None else NullCommander()
    registry = await anyio.to_thread.run_sync(Registry, db, settings, commander)
    app.state.registry = registry
    app.state.rounds = rounds = RoundService(db, registry)
    rounds.tasks.bind(asyncio.get_running_loop())
    leadership: Leadership = app.state.leadership  # the hub's lifespan made it
    auto = AutoRounds(db, rounds, settings.fl_auto_rounds)
    ticker = asyncio.create_task(
        _tick(rounds, auto, leadership, settings.fl_tick_s), name="fl-tick"
    )
    try:
        yield
    finally:
        ticker.cancel()
        with suppress(asyncio.CancelledError):
            await ticker
        await rounds.tasks.close()
