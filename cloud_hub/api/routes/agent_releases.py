"""Agent releases (docs/hub.md "Agent releases"): upload a bundle, list, download, and send a
device `agent-update` for one.

An upload is the `.tar.gz` `edgefleet bundle` built; the hub reads its `manifest.json` (in
memory, in a worker thread: hashing and un-gzipping hundreds of MB must not stall the event
loop), stores the bytes in the artifact store (the database by default, so every replica
serves them) and signs `AgentRelease` (version, arch, python, sha256, size) with the key
devices pinned at enrollment. A release is immutable: (version, arch, python) names one
bundle for good, so a device never has two different bundles under one version.

`agent-update` is answered 202 once the broker has the command: the device replies only
after it restarted into the new version (or rolled back), minutes later; the reply lands in
the `commands` table (`GET /devices/{id}/commands`).
"""

import hashlib
from typing import Annotated

import anyio
from fastapi import APIRouter, Path, Query, Request, Response, status

from cloud_hub.api.deps import (
    AdminDep,
    DbDep,
    DeviceOrAdminDep,
    ReaderDep,
    RegistryDep,
    SettingsDep,
)
from cloud_hub.api.routes.infer import read_body
from cloud_hub.core.clock import utcnow
from cloud_hub.core.errors import NotFound, Unavailable, Unprocessable, UnsupportedMediaType
from cloud_hub.crud import agent_releases as crud
from cloud_hub.db import tables as t
from cloud_hub.ingest.messenger import Messenger
from cloud_hub.schemas.agent_releases import (
    AgentReleasePublic,
    AgentUpdateAccepted,
    AgentUpdateRequest,
)
from cloud_hub.schemas.common import error_responses
from contract import Command, CommandName
from contract.http import AGENT_BUNDLE, AGENT_RELEASES, AGENT_UPDATE
from contract.ids import DeviceId
from contract.manifest import AgentRelease
from deploy.bundle.manifest import ManifestError, read_target_from

router = APIRouter(tags=["agent releases"])
BUNDLE_TYPES = ("application/gzip", "application/x-gzip", "application/octet-stream")
Sha256Path = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


def _inspect(content: bytes) -> AgentRelease:
    """The release the bundle is (in a worker thread): its hash and its manifest."""
    if not content:
        raise Unprocessable("the body must be an agent bundle (.tar.gz)", code="not_a_bundle")
    try:
        target = read_target_from(content, "the body")
    except ManifestError as exc:
        raise Unprocessable(
            f"{exc}; upload the .tar.gz that `edgefleet bundle` built", code="not_a_bundle"
        ) from None
    return crud.release_of(target, hashlib.sha256(content).hexdigest(), len(content))


@router.post(
    AGENT_RELEASES,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": AgentReleasePublic, "description": "these bytes were already a release"},
        **error_responses(409, 413, 415),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in BUNDLE_TYPES
            },
        }
    },
)
async def upload_release(
    request: Request,
    response: Response,
    db: DbDep,
    registry: RegistryDep,
    settings: SettingsDep,
    _: AdminDep,
    note: Annotated[str | None, Query(max_length=500)] = None,
) -> AgentReleasePublic:
    """Register an agent bundle (raw body, `edgefleet bundle`'s .tar.gz) as a signed release;
    its version, arch and Python come from its `manifest.json`. 201 when new, 200 when these
    bytes are already a release, 409 `release_exists` when that version, arch and Python
    already name another bundle."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and kind not in BUNDLE_TYPES:
        raise UnsupportedMediaType(
            f"send the bundle as {' or '.join(BUNDLE_TYPES[::2])}, not {kind}",
            code="unsupported_media_type",
        )
    content = await read_body(request, settings.release_upload_max_bytes)
    found = await anyio.to_thread.run_sync(_inspect, content)

    def register() -> tuple[AgentReleasePublic, bool]:
        with db.session(write=True) as s:
            row, created = crud.register(
                s,
                store=registry.store,
                key=registry.key,
                content=content,
                found=found,
                note=note,
                now=utcnow(),
            )
            return crud.public(row), created

    out, created = await anyio.to_thread.run_sync(register)
    if not created:
        response.status_code = status.HTTP_200_OK
    return out


@router.get(AGENT_RELEASES)
def list_releases(db: DbDep, _: ReaderDep) -> list[AgentReleasePublic]:
    """Every release, newest first."""
    with db.session(write=False) as s:
        return [crud.public(r) for r in crud.list_releases(s)]


@router.get(
    AGENT_BUNDLE,
    response_class=Response,
    responses={200: {"content": {"application/gzip": {}}}, **error_responses(404)},
)
def download_bundle(
    sha256: Sha256Path, db: DbDep, registry: RegistryDep, _: DeviceOrAdminDep
) -> Response:
    """The bundle's bytes (device credentials or an admin key); only a release's, never any
    other artifact of the store. The signature is in `X-Edgefleet-Signature`."""
    with db.session(write=False) as s:
        row = crud.get_by_sha(s, sha256)
        name = f"edgefleet-{row.version}-{row.arch}-py{row.python.replace('.', '')}.tar.gz"
        signature, content = row.signature, registry.store.get(s, sha256)
    return Response(
        content,
        media_type="application/gzip",
        headers={
            "X-Edgefleet-Sha256": sha256,
            "X-Edgefleet-Signature": signature,
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )


@router.post(
    AGENT_UPDATE,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 503),
)
async def agent_update(
    device_id: DeviceId, data: AgentUpdateRequest, request: Request, db: DbDep, _: AdminDep
) -> AgentUpdateAccepted:
    """Send the device `agent-update` for that release and answer once the broker has it;
    the device's reply (the new version running, or why not) comes later and shows in
    `GET /devices/{id}/commands` under `cmd_id`. 404 `device_not_found` /
    `release_not_found`, 503 `mqtt_disabled` / `mqtt_unavailable`."""

    def look_up() -> tuple[Command, AgentReleasePublic]:
        with db.session(write=False) as s:
            if s.get(t.Device, device_id) is None:
                raise NotFound(f"no device {device_id!r}", code="device_not_found")
            row = crud.find(s, version=data.version, arch=data.arch, python=data.python)
            return Command.of(crud.command_args(row)), crud.public(row)

    command, release = await anyio.to_thread.run_sync(look_up)
    messenger: Messenger | None = request.app.state.messenger
    if messenger is None:
        raise Unavailable(
            "this hub runs without MQTT, so it cannot send commands", code="mqtt_disabled"
        )
    await messenger.command(device_id, CommandName.AGENT_UPDATE.value, command)
    return AgentUpdateAccepted(device_id=device_id, cmd_id=command.cmd_id, release=release)
