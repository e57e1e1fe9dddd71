"""Device actions for operators (docs/dashboard.md): send a command and wait for its reply,
read the commands a device was sent and its replies, and roll one model version out to one
device.

`POST /devices/{id}/commands/{name}` publishes `{d}/cmd/{name}` (QoS 1, a fresh `cmd_id`)
through the hub's messenger, on its one MQTT session, and waits, bounded, for the matching
`{d}/cmd/{name}/reply`: the bridge is subscribed to every device's replies from the moment
the session is up, and the waiter is registered before the command goes out, so no reply can
be missed. Without a session the call fails at once (503 `mqtt_unavailable`) rather than
queueing a command whose reply nobody would wait for. The args of a contract command (`ping`,
`model-update`, `fl-train`, `restart`, `logs`, `reboot`, `agent-update`: `contract.command`)
are checked against its model first (422 `bad_args`); any other name goes out as given and
the device answers for it. An `agent-update` sent here waits for a reply that comes only after
the device restarted: `POST /devices/{id}/agent-update` (routes/agent_releases.py) does not
wait.

`GET /devices/{id}/commands` pages through the `commands` table: every command the hub sent
(API, rounds, deployments) with its reply once one came.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel, Field

from cloud_hub.api.deps import AdminDep, CurrentPrincipal, DbDep, check_device_access
from cloud_hub.core.db import Database
from cloud_hub.core.errors import Conflict, HubError, NotFound, Unavailable, Unprocessable
from cloud_hub.crud import commands as crud_commands
from cloud_hub.crud import registry as crud
from cloud_hub.db import tables as t
from cloud_hub.ingest.messenger import Messenger
from cloud_hub.registry.service import Registry
from cloud_hub.schemas.commands import CommandPublic
from cloud_hub.schemas.common import Page, RequestModel, error_responses
from cloud_hub.schemas.registry import DeploymentCreate, DeploymentPublic
from contract import Command, CommandError, ErrorCode, parse_args
from contract.ids import DeviceId, ModelId

router = APIRouter(tags=["devices"])
DevicePath = DeviceId
COMMAND_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
CommandPath = Annotated[str, Path(pattern=COMMAND_NAME)]
DEVICE_TARGET = "device"  # `deployments.target` of a rollout to one device


class CommandTimeout(HubError):
    status, code = 504, "command_timeout"


class CommandRequest(RequestModel):
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="the command's arguments; a contract command's must fit its schema "
        "(docs/schemas/<name>-command.json), else 422 `bad_args`",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=60, description="how long to wait")


class CommandResult(BaseModel):
    device_id: str
    name: str
    cmd_id: str
    ok: bool
    result: dict[str, Any]
    error: str | None
    code: ErrorCode | None = Field(
        default=None, description="if not ok: why, e.g. `unknown_command`, `bad_args`"
    )
    ts: datetime = Field(description="when the device replied (its clock)")
    elapsed_ms: float = Field(description="publish to reply, as the hub measured it")


class DeviceDeploymentCreate(RequestModel):
    model: ModelId
    version: str = Field(max_length=64)


def _device_state(db: Database, device_id: str) -> str:
    with db.session(write=False) as s:
        device = s.get(t.Device, device_id)
        if device is None:
            raise NotFound(f"no device {device_id!r}", code="device_not_found")
        return device.state


@router.post("/devices/{device_id}/commands/{name}", responses=error_responses(404, 422, 503, 504))
async def send_command(
    device_id: DevicePath,
    name: CommandPath,
    data: CommandRequest,
    request: Request,
    db: DbDep,
    _: AdminDep,
) -> CommandResult:
    """Publish `cmd/{name}` with a fresh `cmd_id` and wait (at most `timeout_s`) for the
    device's `cmd/{name}/reply`; 504 `command_timeout` when none comes, 503
    `mqtt_unavailable` when the hub has no MQTT session."""
    command = _command(name, data.args)
    state = await anyio.to_thread.run_sync(_device_state, db, device_id)
    messenger: Messenger | None = request.app.state.messenger
    if messenger is None:
        raise Unavailable(
            "this hub runs without MQTT, so it cannot send commands", code="mqtt_disabled"
        )
    try:
        reply, elapsed = await messenger.request(device_id, name, command, data.timeout_s)
    except TimeoutError:
        raise CommandTimeout(
            f"{device_id} did not reply to `{name}` within {data.timeout_s:g} s "
            f"(the hub last saw it {state}); the command may still run when it arrives",
            detail={"cmd_id": command.cmd_id, "device_state": state},
        ) from None
    return CommandResult(
        device_id=device_id,
        name=name,
        cmd_id=reply.cmd_id,
        ok=reply.ok,
        result=reply.result,
        error=reply.error,
        code=reply.code,
        ts=reply.ts,
        elapsed_ms=round(elapsed, 1),
    )


@router.get(
    "/devices/{device_id}/commands",
    response_model=Page[CommandPublic],
    responses=error_responses(404),
)
def list_commands(
    device_id: DevicePath,
    db: DbDep,
    who: CurrentPrincipal,
    name: Annotated[str | None, Query(pattern=COMMAND_NAME, description="one command only")] = None,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,18}$", description="`next_cursor` of the last page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page[CommandPublic]:
    """Commands the hub sent to the device (API, rounds, deployments) and the device's
    replies, newest first; a reply to a command the hub has no record of has no `args`."""
    check_device_access(who, device_id, write=False)
    with db.session(write=False) as s:
        if s.get(t.Device, device_id) is None:
            raise NotFound(f"no device {device_id!r}", code="device_not_found")
        rows, total, nxt = crud_commands.list_commands(
            s, device_id=device_id, name=name, cursor=int(cursor) if cursor else None, limit=limit
        )
        return Page(items=[crud_commands.to_public(r) for r in rows], total=total, next_cursor=nxt)


def _command(name: str, args: dict[str, Any]) -> Command:
    """The command to publish: a contract command's args typed (422 `bad_args` if they do not
    fit), any other name's as given (the device may run commands of its own)."""
    command = Command(cmd_id=uuid.uuid4().hex, args=args)
    try:
        return Command.of(parse_args(name, command), command.cmd_id)
    except CommandError as exc:
        if exc.code is ErrorCode.UNKNOWN_COMMAND:
            return command
        raise Unprocessable(str(exc), code=exc.code.value) from None


@router.post(
    "/devices/{device_id}/deployments",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409),
)
def deploy_to_device(
    device_id: DevicePath,
    data: DeviceDeploymentCreate,
    request: Request,
    db: DbDep,
    _: AdminDep,
) -> DeploymentPublic:
    """Roll one version out to this device alone (a deployment with target `device`); the
    device reports back through `PUT /models/{m}/devices/self` as in any rollout."""
    registry: Registry = request.app.state.registry
    with db.session(write=False) as s:
        device = s.get(t.Device, device_id)
        if device is None:
            raise NotFound(f"no device {device_id!r}", code="device_not_found")
        runs = [c.model for c in device.capability_rows]
        if data.model not in runs:
            raise Conflict(
                f"{device_id} does not run {data.model!r} (it runs: "
                f"{', '.join(runs) or 'nothing'})",
                code="model_not_on_device",
            )
        crud.get_version(s, model=data.model, version=data.version)  # 404 if unknown
    dep_id = registry.deploy(
        data.model, DeploymentCreate(version=data.version), devices=[device_id]
    )
    with db.session(write=True) as s:
        dep = crud.get_deployment(s, dep_id)
        dep.target = DEVICE_TARGET
        return crud.deployment_public(s, dep)
