"""`POST` infer (contract.http.INFER): the full models, raw body + content type, device auth."""

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response

from cloud_hub.api.deps import DeviceOrAdminDep, InferenceDep, SettingsDep
from cloud_hub.core.errors import PayloadTooLarge, Unavailable, Unprocessable
from contract import InferResult
from contract.http import INFER
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


SERVER_TIMING = "Server-Timing"


def server_timing(total_ms: float, infer_ms: float) -> str:
    """`Server-Timing` value: the handler's whole time (body read, queueing for the model,
    inference) and the inference alone. Devices add their probe RTT to `total` to estimate
    what an offload costs without their own (possibly starved) event loop in the number."""
    return f"total;dur={total_ms:.3f}, infer;dur={infer_ms:.3f}"


@router.post(INFER, response_model_exclude_none=True)
async def infer(
    model: Annotated[str, Path(max_length=128)],
    request: Request,
    response: Response,
    service: InferenceDep,
    settings: SettingsDep,
    _: DeviceOrAdminDep,
    rid: str | None = None,
    content_type: Annotated[str | None, Header()] = None,
) -> InferResult:
    """Run `model` on the raw body (image/jpeg, image/png, audio/wav, audio/L16...).

    Requests that queue while the model is busy are run together (dynamic micro-batching).
    The response carries `Server-Timing: total;dur=<ms>, infer;dur=<ms>`.
    """
    received = time.perf_counter()
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
        raise Unavailable(f"model {model} is unavailable: {exc}", code="model_unavailable") from exc
    done = time.perf_counter()
    elapsed = done - started
    service.metrics.infer_latency.labels(model).observe(elapsed)
    service.metrics.infer_requests.labels(model, "ok").inc()
    response.headers[SERVER_TIMING] = server_timing((done - received) * 1000, elapsed * 1000)
    return InferResult(
        model=model,
        model_version=outcome.model_version,
        where="cloud",
        latency_ms=round(elapsed * 1000, 3),
        output=outcome.output.model_dump(mode="json"),
        rid=rid,
        msg_id=uuid.uuid4().hex,
    )
