"""`/fl/rounds`: start and follow federated rounds; devices fetch weights and upload updates
here (docs/federated.md; the device paths are in contract/http.py)."""

import base64
import binascii
import json
import math
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse

from cloud_hub.api.deps import (
    AdminDep,
    DbDep,
    DeviceDep,
    ReaderDep,
    RowIdPath,
    SettingsDep,
    get_principal,
)
from cloud_hub.core.errors import Forbidden, Unauthorized, error_body
from cloud_hub.core.security import Principal, Role
from cloud_hub.crud import federated as crud
from cloud_hub.federated.rounds import RoundService
from cloud_hub.schemas.common import MAX_ROW_ID, error_responses, unstorable
from cloud_hub.schemas.federated import (
    KeyAnnouncement,
    RoundCreate,
    RoundPublic,
    UnmaskSecrets,
    UpdatePublic,
)
from contract.http import ROUND, ROUND_KEYS, ROUND_UNMASK, ROUND_UPDATES, ROUND_WEIGHTS, ROUNDS

router = APIRouter(tags=["federated"])
RoundId = RowIdPath


def get_rounds(request: Request) -> RoundService:
    rounds: RoundService = request.app.state.rounds
    return rounds


RoundsDep = Annotated[RoundService, Depends(get_rounds)]


@router.post(ROUNDS, status_code=status.HTTP_201_CREATED, responses=error_responses(409))
def start_round(data: RoundCreate, db: DbDep, rounds: RoundsDep, _: AdminDep) -> RoundPublic:
    """Start a round: pick participants, send them `cmd/fl-train`."""
    round_id = rounds.start(data)
    with db.session(write=False) as s:
        return crud.round_public(s, crud.get_round(s, round_id))


@router.get(ROUNDS)
def list_rounds(
    db: DbDep,
    _: ReaderDep,
    model: str | None = None,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[RoundPublic]:
    with db.session(write=False) as s:
        return [
            crud.round_public(s, r)
            for r in crud.list_rounds(s, model=model, state=state, limit=limit)
        ]


@router.get(ROUND)
def get_round(round_id: RoundId, db: DbDep, _: ReaderDep) -> RoundPublic:
    with db.session(write=False) as s:
        return crud.round_public(s, crud.get_round(s, round_id))


@router.get(ROUND_UPDATES)
def list_updates(round_id: RoundId, db: DbDep, _: ReaderDep) -> list[UpdatePublic]:
    with db.session(write=False) as s:
        crud.get_round(s, round_id)
        return [crud.update_public(u) for u in crud.list_updates(s, round_id)]


@router.get(ROUND_WEIGHTS, response_class=Response)
def weights(
    round_id: RoundId, rounds: RoundsDep, who: Annotated[Principal, Depends(get_principal)]
) -> Response:
    """The round's current global parameters, float32 little-endian; `X-Edgefleet-Step` is
    the aggregation step they come from (send it back as `X-Edgefleet-Base-Step`)."""
    if who.role not in (Role.DEVICE, Role.ADMIN, Role.VIEWER):
        raise Forbidden("credentials required")
    body, step = rounds.weights(round_id)
    return Response(
        body, media_type="application/octet-stream", headers={"X-Edgefleet-Step": str(step)}
    )


@router.post(ROUND_KEYS, status_code=status.HTTP_204_NO_CONTENT)
def announce_key(
    round_id: RoundId,
    data: KeyAnnouncement,
    rounds: RoundsDep,
    who: DeviceDep,
) -> Response:
    """Secure aggregation: a participant's X25519 public key for this round."""
    assert who.device_id is not None  # a device principal names its device
    rounds.announce_key(round_id, who.device_id, data.public_key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(ROUND_UNMASK, status_code=status.HTTP_204_NO_CONTENT)
def unmask(
    round_id: RoundId,
    data: UnmaskSecrets,
    rounds: RoundsDep,
    who: DeviceDep,
) -> Response:
    """Secure aggregation after a dropout: a surviving participant's pairwise secrets with
    the dropped ones, which take their masks out of the round's sum (docs/federated.md)."""
    assert who.device_id is not None
    rounds.unmask(round_id, who.device_id, data.secrets)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _claimed_device(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return "?"
    try:
        return base64.b64decode(value.strip(), validate=True).decode().partition(":")[0] or "?"
    except (binascii.Error, UnicodeDecodeError):
        return "?"


def _refused(status_code: int, reason: str, detail: str, update_id: int | None) -> JSONResponse:
    return JSONResponse(error_body(reason, detail, {"update_id": update_id}), status_code)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not finite")
    return value


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _metrics(header: str | None) -> dict[str, Any]:
    """The optional metrics header, dropped (like malformed JSON) unless the database can
    store it: Python's json accepts NaN, Infinity and 1e999, and a NUL may come escaped,
    all of which PostgreSQL's json refuses (a 500 otherwise)."""
    if not header:
        return {}
    try:
        value = json.loads(header, parse_float=_finite, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # json.JSONDecodeError included
        return {}
    return value if isinstance(value, dict) and unstorable(value) is None else {}


def upload_principal(request: Request, db: DbDep, rounds: RoundsDep) -> Principal:
    """Device credentials; a wrong or unknown device is recorded as `unenrolled` first."""
    try:
        return get_principal(request, db)
    except Unauthorized as exc:
        round_id = str(request.path_params.get("round_id", ""))
        if (
            exc.code == "invalid_credentials"
            and round_id.isascii()
            and round_id.isdigit()
            and 1 <= int(round_id) <= MAX_ROW_ID
        ):
            out = rounds.reject(
                int(round_id),
                _claimed_device(request),
                0,
                "unenrolled",
                f"unknown or wrong device credentials ({exc})",
            )
            raise Unauthorized(
                out.detail or "", code="unenrolled", detail={"update_id": out.update_id}
            ) from None
        raise


@router.post(
    ROUND_UPDATES,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 409, 413, 422),
)
async def upload_update(
    round_id: RoundId,
    request: Request,
    rounds: RoundsDep,
    settings: SettingsDep,
    who: Annotated[Principal, Depends(upload_principal)],
    base_step: Annotated[int, Header(alias="X-Edgefleet-Base-Step", ge=0)] = 0,
    metrics_header: Annotated[
        str | None, Header(alias="X-Edgefleet-Metrics", max_length=2000)
    ] = None,
) -> Any:
    """An update (binary body, `models.training.updates` format). Refusals are recorded with
    their reason and never aggregated; the size is checked before the body is read."""
    if who.role is not Role.DEVICE or who.device_id is None:
        raise Forbidden("updates come from devices")
    device, limit = who.device_id, settings.fl_update_max_bytes
    declared = int(request.headers.get("content-length") or 0)
    body = None if declared > limit else await _read_capped(request, limit)
    if body is None:
        out = await anyio.to_thread.run_sync(
            rounds.reject, round_id, device, declared, "oversize", f"body over {limit} bytes"
        )
        return _refused(413, "oversize", out.detail or "", out.update_id)
    metrics = _metrics(metrics_header)
    out = await anyio.to_thread.run_sync(
        rounds.receive,
        round_id,
        device,
        body,
        base_step,
        metrics,
    )
    if not out.accepted:
        code = (
            409
            if out.reason in ("round_closed", "duplicate")
            else (403 if out.reason == "not_participant" else 422)
        )
        return _refused(code, out.reason or "rejected", out.detail or "", out.update_id)
    return {"accepted": True, "update_id": out.update_id}
