"""`POST` infer (contract.http.INFER): the full models, raw body + content type, device auth."""

import time
import uuid
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Path, Request, Response

from cloud_hub.api.deps import DbDep, DeviceOrAdminDep, InferenceDep, SettingsDep
from cloud_hub.core.db import Database
from cloud_hub.core.errors import Conflict, PayloadTooLarge, Unavailable, Unprocessable
from cloud_hub.crud.samples import keep_sample, opted_out
from cloud_hub.inference.batcher import Outcome
from contract import ContractError, EdgeAnswer, InferResult, utcnow
from contract.http import EDGE_ANSWER, EDGE_ANSWER_MAX, INFER
from contract.inference import parse_edge_answer
from contract.twin import SHARE_HARD_SAMPLES
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
    principal: DeviceOrAdminDep,
    db: DbDep,
    rid: str | None = None,
    content_type: Annotated[str | None, Header()] = None,
    edge_answer: Annotated[
        str | None,
        Header(
            alias=EDGE_ANSWER,
            max_length=EDGE_ANSWER_MAX,
            description="a cascade's own answer (contract.inference.EdgeAnswer, base64url "
            "JSON): the hub keeps the input with both answers as a hard sample",
        ),
    ] = None,
) -> InferResult:
    """Run `model` on the raw body (image/jpeg, image/png, audio/wav, audio/L16...).

    Requests that queue while the model is busy are run together (dynamic micro-batching).
    The response carries `Server-Timing: total;dur=<ms>, infer;dur=<ms>`.
    """
    received = time.perf_counter()
    worker = service.check(model, content_type)
    edge = None
    if edge_answer is not None:
        try:
            edge = parse_edge_answer(edge_answer)
        except ContractError as exc:
            raise Unprocessable(f"{EDGE_ANSWER}: {exc}", code="bad_edge_answer") from exc
        if principal.device_id is not None and await anyio.to_thread.run_sync(
            _opted_out, db, principal.device_id
        ):
            raise Conflict(
                f"device {principal.device_id} is opted out of sharing hard samples "
                f"(twin {SHARE_HARD_SAMPLES} = false); send the request without {EDGE_ANSWER}",
                code="samples_opted_out",
            )
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
    if edge is not None and principal.device_id is not None and settings.samples_per_device:
        await anyio.to_thread.run_sync(
            _keep, db, principal.device_id, edge, model, outcome, payload, content_type or "",
            settings.samples_per_device,
        )  # fmt: skip
    return InferResult(
        model=model,
        model_version=outcome.model_version,
        where="cloud",
        latency_ms=round(elapsed * 1000, 3),
        output=outcome.output.model_dump(mode="json"),
        rid=rid,
        msg_id=uuid.uuid4().hex,
    )


def _keep(
    db: Database,
    device_id: str,
    edge: EdgeAnswer,
    model: str,
    outcome: Outcome,
    payload: bytes,
    content_type: str,
    keep: int,
) -> None:
    with db.session(write=True) as s:
        keep_sample(
            s,
            device_id=device_id,
            edge=edge,
            cloud_model=model,
            cloud_version=outcome.model_version,
            cloud_output=outcome.output.model_dump(mode="json"),
            payload=payload,
            content_type=content_type.split(";")[0].strip().lower(),
            now=utcnow(),
            keep=keep,
        )


def _opted_out(db: Database, device_id: str) -> bool:
    with db.session(write=False) as s:
        return opted_out(s, device_id)
