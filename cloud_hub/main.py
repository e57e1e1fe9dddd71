"""`create_app`: the FastAPI hub, its lifespan owning the database, the MQTT bridge, the SQL
writer thread and the inference workers."""

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import anyio
from fastapi import APIRouter, FastAPI

from cloud_hub.api import errors
from cloud_hub.api.middleware import HubMiddleware
from cloud_hub.api.routes import (
    agent_releases,
    broker_auth,
    devices,
    enrollment,
    fleet,
    infer,
    keys,
    live,
    ops,
    peers,
    samples,
    session,
    twin,
)
from cloud_hub.api.routes import commands as command_routes
from cloud_hub.api.routes import federated as federated_routes
from cloud_hub.api.routes import models as model_routes
from cloud_hub.core import security
from cloud_hub.core.config import Environment, Settings
from cloud_hub.core.db import Database, make_engine, upgrade
from cloud_hub.core.leader import Leadership, keep_leading
from cloud_hub.core.metrics import HubMetrics
from cloud_hub.federated.lifespan import learning
from cloud_hub.inference.batcher import PipelineLoader
from cloud_hub.inference.service import InferenceService
from cloud_hub.ingest.bridge import MqttBridge
from cloud_hub.ingest.writer import IngestWriter
from cloud_hub.integrations import twin_sync
from cloud_hub.schemas.common import error_responses
from contract.http import AGENT_RELEASES, API_PREFIX

log = logging.getLogger(__name__)


def admin_key(settings: Settings) -> str:
    """The bootstrap admin key; in development an unset one is made once and kept in
    `<data_dir>/admin.key` (mode 0600) so that restarts and local tools agree."""
    if settings.admin_api_key is not None:
        return settings.admin_api_key.get_secret_value()
    assert settings.environment is Environment.DEVELOPMENT  # Settings refuses otherwise
    path = Path(settings.data_dir) / "admin.key"
    if path.exists():
        return path.read_text().strip()
    key = security.new_secret(security.ADMIN_KEY_PREFIX)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    log.warning("generated a development admin API key in %s", path)
    return key


def _api_router() -> APIRouter:
    # every API route may answer these, with the hub's error body (not FastAPI's default
    # `HTTPValidationError` for 422, which the hub never sends)
    api = APIRouter(prefix=API_PREFIX, responses=error_responses(400, 401, 403, 404, 422))
    for module in (
        devices,
        enrollment,
        keys,
        fleet,
        infer,
        session,
        live,
        model_routes,
        federated_routes,
        samples,
        peers,
    ):
        api.include_router(module.router)
    for module in (twin, broker_auth):  # twin, broker auth (docs/twin.md, broker.md)
        api.include_router(module.router)
    api.include_router(command_routes.router)  # device commands (docs/dashboard.md)
    api.include_router(agent_releases.router)  # agent updates (docs/hub.md)
    return api


def create_app(
    settings: Settings | None = None, *, pipeline_loader: PipelineLoader | None = None
) -> FastAPI:
    settings = settings or Settings()
    metrics = HubMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        db = Database(engine)
        await anyio.to_thread.run_sync(upgrade, engine)
        app.state.admin_key_digest = security.digest(
            await anyio.to_thread.run_sync(admin_key, settings)
        )
        # one replica leads: it ingests and runs the singleton jobs (core/leader.py)
        leadership = app.state.leadership = Leadership(engine, eligible=settings.mqtt_enabled)
        # with a shared subscription every replica ingests its share (docs/offload.md)
        shared = settings.mqtt_shared_group is not None
        writer = bridge = bridge_task = None
        if settings.mqtt_enabled:
            writer = IngestWriter(db, settings, metrics)
            twin_sync.install(db, writer)
            bridge = MqttBridge(settings, writer, metrics)

        def lead(on: bool) -> None:
            """Leading or standing by, at start (before the writer and bridge run) and on
            every change."""
            metrics.leader.set(1 if on else 0)
            if writer is not None and bridge is not None:
                writer.activate(on)
                bridge.ingest(on or shared)

        lead(await anyio.to_thread.run_sync(leadership.lead))
        if writer is not None and bridge is not None:
            await anyio.to_thread.run_sync(writer.start)
            bridge_task = asyncio.create_task(bridge.run(), name="mqtt-bridge")
        leader_task = asyncio.create_task(
            keep_leading(leadership, settings.fl_tick_s, lead), name="leader"
        )
        inference = InferenceService(
            settings.cloud_models,
            loader=pipeline_loader,
            max_batch=settings.infer_max_batch,
            queue_max=settings.infer_queue_max,
            metrics=metrics,
        )
        inference.start()
        app.state.db, app.state.writer, app.state.bridge = db, writer, bridge
        # the one outbound MQTT path (commands, replies, twin, acks) on the bridge's session
        app.state.messenger = bridge.messenger if bridge is not None else None
        app.state.inference = inference
        # Move start-up objects (ORM, pydantic, device runtimes) out of the collector's reach:
        # full collections over them were the p99 of the fleet API (65 ms -> 6 ms).
        gc.collect()
        gc.freeze()
        log.info(
            "hub started",
            extra={"database": engine.url.render_as_string(), "mqtt": settings.mqtt_enabled},
        )
        try:
            async with learning(app, db, settings):  # registry, FL rounds, ticker
                yield
        finally:
            leader_task.cancel()
            with suppress(asyncio.CancelledError):
                await leader_task
            if bridge is not None and bridge_task is not None:
                await bridge.messenger.settle(2.0)  # commands the rounds just sent
                bridge_task.cancel()
                with suppress(asyncio.CancelledError):
                    await bridge_task
            await inference.stop()
            if writer is not None:
                await anyio.to_thread.run_sync(writer.stop)
            await anyio.to_thread.run_sync(leadership.release)  # the next replica takes over
            db.dispose()
            # what start-up froze is this app's too (its pipelines sit in reference cycles): a
            # process that runs one hub after another (the test suite: ~1,000 of them) kept
            # every one, 12-40 MB each, 20 GB by the end of `make test`
            gc.unfreeze()

    app = FastAPI(
        title="edgefleet hub",
        version="1",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        description="Device registry, enrollment, health, MQTT ingest and cloud "
        "inference. All routes but /healthz need credentials.",
    )
    app.state.settings, app.state.metrics = settings, metrics
    app.state.db = app.state.writer = app.state.bridge = app.state.messenger = None
    errors.install(app)
    app.include_router(ops.router)
    app.include_router(_api_router())
    session.install(app)  # the dashboard at `/` and its session cookie (docs/dashboard.md)
    app.add_middleware(
        HubMiddleware,
        metrics=metrics,
        max_body=settings.max_body_bytes,
        own_limit={API_PREFIX + AGENT_RELEASES},  # `release_upload_max_bytes`, in the route
    )
    return app
