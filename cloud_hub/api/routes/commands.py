"""Device actions for operators (docs/dashboard.md): send a command and wait for its reply,
and roll one model version out to one device.

`POST /devices/{id}/commands/{name}` publishes `{d}/cmd/{name}` (QoS 1, a fresh `cmd_id`) on
the bridge's MQTT session and waits, bounded, for the matching `{d}/cmd/{name}/reply`. The
bridge does not ingest replies, so each call opens a short-lived session of its own that
subscribes to that one reply topic *before* the command goes out: no reply can be missed.
"""

import asyncio
import time
import uuid
from datetime import datetime
from typing import Annotated, Any

import aiomqtt
import anyio
from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, Field

from cloud_hub.api.deps import AdminDep, DbDep, SettingsDep
from cloud_hub.core.config import Settings
from cloud_hub.core.db import Database
from cloud_hub.core.errors import Conflict, HubError, NotFound, Unavailable
from cloud_hub.crud import registry as crud
from cloud_hub.db import tables as t
from cloud_hub.ingest.bridge import MqttBridge
from cloud_hub.registry.service import Registry
from cloud_hub.schemas.common import RequestModel, error_responses
from cloud_hub.schemas.registry import DeploymentCreate, DeploymentPublic
from contract import Command, CommandReply, ContractError, Topics, decode, encode

router = APIRouter(tags=["devices"])
DevicePath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
CommandPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
DEVICE_TARGET = "device"  # `deployments.target` of a rollout to one device


class CommandTimeout(HubError):
    status, code = 504, "command_timeout"


class CommandRequest(RequestModel):
    args: dict[str, Any] = Field(default_factory=dict, description="the command's arguments")
    timeout_s: float = Field(default=10.0, gt=0, le=60, description="how long to wait")


class CommandResult(BaseModel):
    device_id: str
    name: str
    cmd_id: str
    ok: bool
    result: dict[str, Any]
    error: str | None
    ts: datetime = Field(description="when the device replied (its clock)")
    elapsed_ms: float = Field(description="publish to reply, as the hub measured it")


class DeviceDeploymentCreate(RequestModel):
    model: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    version: str = Field(max_length=64)


def _device_state(db: Database, device_id: str) -> str:
    with db.session(write=False) as s:
        device = s.get(t.Device, device_id)
        if device is None:
            raise NotFound(f"no device {device_id!r}", code="device_not_found")
        return device.state


async def _await_reply(
    settings: Settings,
    bridge: MqttBridge,
    device_id: str,
    name: str,
    command: Command,
    timeout_s: float,
    state: str,
) -> tuple[CommandReply, float]:
    topics = Topics(settings.topic_prefix)
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    client = aiomqtt.Client(
        settings.mqtt_host,
        settings.mqtt_port,
        username=settings.mqtt_username,
        password=password,
        identifier=f"{settings.mqtt_client_id}-reply-{uuid.uuid4().hex[:8]}",
        clean_session=True,
        keepalive=30,
        timeout=5,
    )
    try:
        async with client:
            await client.subscribe(topics.cmd_reply(device_id, name), qos=1)
            started = time.monotonic()
            if not await bridge.publish(topics.cmd(device_id, name), encode(command), qos=1):
                raise Unavailable(
                    "the hub has no MQTT session right now; try again shortly",
                    code="mqtt_unavailable",
                )
            try:
                async with asyncio.timeout(timeout_s):
                    async for message in client.messages:
                        payload = message.payload
                        if not isinstance(payload, bytes | bytearray):
                            continue
                        try:
                            reply = decode(CommandReply, bytes(payload))
                        except ContractError:
                            continue
                        if reply.cmd_id == command.cmd_id:
                            return reply, (time.monotonic() - started) * 1000
            except TimeoutError:
                pass
    except aiomqtt.MqttError as exc:
        raise Unavailable(
            f"the broker cannot be reached for the reply: {exc}", code="mqtt_unavailable"
        ) from None
    raise CommandTimeout(
        f"{device_id} did not reply to `{name}` within {timeout_s:g} s "
        f"(the hub last saw it {state}); the command may still run when it arrives",
        detail={"cmd_id": command.cmd_id, "device_state": state},
    )


@router.post(
    "/devices/{device_id}/commands/{name}", responses=error_responses(404, 503, 504)
)
async def send_command(
    device_id: DevicePath,
    name: CommandPath,
    data: CommandRequest,
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    _: AdminDep,
) -> CommandResult:
    """Publish `cmd/{name}` with a fresh `cmd_id` and wait (at most `timeout_s`) for the
    device's `cmd/{name}/reply`; 504 `command_timeout` when none comes."""
    state = await anyio.to_thread.run_sync(_device_state, db, device_id)
    bridge: MqttBridge | None = request.app.state.bridge
    if bridge is None:
        raise Unavailable(
            "this hub runs without MQTT, so it cannot send commands", code="mqtt_disabled"
        )
    command = Command(cmd_id=uuid.uuid4().hex, args=data.args)
    reply, elapsed = await _await_reply(
        settings, bridge, device_id, name, command, data.timeout_s, state
    )
    return CommandResult(
        device_id=device_id,
        name=name,
        cmd_id=reply.cmd_id,
        ok=reply.ok,
        result=reply.result,
        error=reply.error,
        ts=reply.ts,
        elapsed_ms=round(elapsed, 1),
    )


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
