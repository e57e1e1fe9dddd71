"""Operations: /healthz (no credentials), /readyz, /metrics, the OpenAPI document."""

from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cloud_hub.api.deps import DbDep, ReaderDep
from cloud_hub.core.metrics import HubMetrics
from cloud_hub.crud import devices as crud
from cloud_hub.schemas.common import error_responses
from contract.health import DeviceState
from contract.http import API_PREFIX, HEALTHZ, MODEL_CHECK, OPENAPI, READYZ

router = APIRouter(tags=["ops"])


@router.get(HEALTHZ)
def healthz() -> dict[str, str]:
    """Liveness: the process answers. The only route without credentials."""
    return {"status": "ok"}


@router.get(
    READYZ,
    responses={
        **error_responses(401, 403),
        503: {"description": 'not ready: `{"status": "not_ready", "checks": {...}}`'},
    },
)
async def readyz(request: Request, db: DbDep, _: ReaderDep) -> JSONResponse:
    """Readiness: the database answers, (when enabled) the MQTT bridge is connected, and every
    cloud model has loaded: a balancer must not send a device's first offload to a hub still
    reading Whisper from disk (it would time out on the device)."""
    checks: dict[str, str] = {}
    try:
        with anyio.fail_after(5):
            await anyio.to_thread.run_sync(db.ping)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    bridge = request.app.state.bridge
    if bridge is not None:
        checks["broker"] = "ok" if bridge.connected.is_set() else "disconnected"
    writer = request.app.state.writer
    if writer is not None:
        checks["writer"] = "ok" if writer.alive else "stopped"
    inference = request.app.state.inference
    if inference is not None:
        checks.update({MODEL_CHECK + m: state for m, state in inference.warm_up().items()})
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", response_class=Response, responses=error_responses(401, 403))
def metrics(request: Request, db: DbDep, _: ReaderDep) -> Response:
    m: HubMetrics = request.app.state.metrics
    with db.session(write=False) as s:
        counts = crud.count_by_state(s)
    for state in DeviceState:
        m.devices.labels(str(state)).set(counts.get(state, 0))
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


@router.get(API_PREFIX + OPENAPI, include_in_schema=False)
def openapi(request: Request, _: ReaderDep) -> dict[str, Any]:
    spec: dict[str, Any] = request.app.openapi()
    return spec
