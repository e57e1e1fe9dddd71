"""`POST /api/v1/infer/{model}`: the full models, raw body + content type, device auth."""

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request

from broker.contract import InferResult
from cloud_hub.api.deps import DeviceOrAdminDep, InferenceDep, SettingsDep
from cloud_hub.core.errors import PayloadTooLarge, Unavailable, Unprocessable
from models.errors import InputError, ModelError

router = APIRouter(tags=["inference"])


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/infer/{model}", response_model_exclude_none=True)
async def infer(model: Annotated[str, Path(max_length=128)], request: Request,
                service: InferenceDep, settings: SettingsDep, _: DeviceOrAdminDep,
                rid: str | None = None,
                content_type: Annotated[str | None, Header()] = None) -> InferResult:
    """Run `model` on the raw body (image/jpeg, image/png, audio/wav, audio/L16...).

    Requests that queue while the model is busy are run together (dynamic micro-batching).
    """
    worker = service.check(model, content_type)
    payload = await read_body(request, settings.max_body_bytes)
    if not payload:
        raise Unprocessable("empty body", code="empty_body")
    started = time.perf_counter()
    try:
        outcome = await service.infer(worker, payload)
    except InputError as exc:
        service.metrics.infer_requests.labels(model, "bad_input").inc()
        raise Unprocessable(exc.message, code=str(exc.code)) from exc
    except ModelError as exc:
        service.metrics.infer_requests.labels(model, "unavailable").inc()
        raise Unavailable(f"model {model} is unavailable: {exc}",
                          code="model_unavailable") from exc
    elapsed = time.perf_counter() - started
    service.metrics.infer_latency.labels(model).observe(elapsed)
    service.metrics.infer_requests.labels(model, "ok").inc()
    return InferResult(model=model, model_version=outcome.model_version, where="cloud",
                       latency_ms=round(elapsed * 1000, 3),
                       output=outcome.output.model_dump(mode="json"), rid=rid,
                       msg_id=uuid.uuid4().hex)
