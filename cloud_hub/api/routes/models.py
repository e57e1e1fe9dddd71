"""`/models`: registry versions, artifacts, deployments and device reports."""

from typing import Annotated

import anyio
from fastapi import APIRouter, Path, Query, Request, Response, status

from cloud_hub.api.deps import (
    AdminDep,
    CurrentPrincipal,
    DbDep,
    DeviceDep,
    ReaderDep,
    RegistryDep,
    RowIdPath,
)
from cloud_hub.core.clock import utcnow
from cloud_hub.core.errors import Forbidden, Unprocessable
from cloud_hub.core.security import Role
from cloud_hub.crud import registry as crud
from cloud_hub.schemas.common import error_responses
from cloud_hub.schemas.registry import (
    DeploymentCreate,
    DeploymentPublic,
    DeviceModelPublic,
    DeviceModelReport,
    ModelSummary,
    SigningKeyPublic,
    VersionPublic,
)
from contract.http import MODEL_ARTIFACT, MODEL_REPORT, SIGNING_KEY
from contract.ids import ModelId

router = APIRouter(tags=["models"])
ModelPath = ModelId
VersionPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")]


@router.get(SIGNING_KEY)
def signing_key(registry: RegistryDep, _: CurrentPrincipal) -> SigningKeyPublic:
    """The Ed25519 public key devices pin at enrollment to verify every artifact."""
    return SigningKeyPublic(public_key=registry.key.public_key_b64)


@router.get("/models")
def list_models(db: DbDep, _: ReaderDep) -> list[ModelSummary]:
    with db.session(write=False) as s:
        out = []
        for model in crud.list_models(s):
            latest = crud.latest_version(s, model)
            running: dict[str, int] = {}
            for r in crud.device_models(s, model=model):
                if r.state == "running":
                    running[r.version] = running.get(r.version, 0) + 1
            out.append(
                ModelSummary(
                    model=model,
                    versions=len(crud.list_versions(s, model=model)),
                    latest=crud.version_public(s, latest) if latest else None,
                    devices_running=running,
                )
            )
        return out


@router.get("/models/{model}/versions")
def list_versions(model: ModelPath, db: DbDep, _: ReaderDep) -> list[VersionPublic]:
    with db.session(write=False) as s:
        return [crud.version_public(s, r) for r in crud.list_versions(s, model=model)]


@router.post(
    "/models/{model}/versions",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def upload_version(
    model: ModelPath,
    request: Request,
    db: DbDep,
    registry: RegistryDep,
    _: AdminDep,
    version: Annotated[str | None, Query(max_length=64)] = None,
    fmt: Annotated[str, Query(alias="format", pattern="^(onnx|tflite)$")] = "onnx",
    parent: Annotated[str | None, Query()] = None,
) -> VersionPublic:
    """Register an artifact (raw body) as the model's next version, signed by the hub."""
    content = await request.body()
    if not content:
        raise Unprocessable("the body must be the model artifact", code="empty_artifact")

    def register() -> VersionPublic:
        with db.session(write=True) as s:
            parent_id = crud.get_version(s, model=model, version=parent).id if parent else None
            row = crud.register_version(
                s,
                store=registry.store,
                key=registry.key,
                model=model,
                content=content,
                fmt=fmt,
                now=utcnow(),
                version=version,
                parent_id=parent_id,
            )
            return crud.version_public(s, row)

    return await anyio.to_thread.run_sync(register)


@router.get("/models/{model}/versions/{version}")
def get_version(
    model: ModelPath, version: VersionPath, db: DbDep, _: CurrentPrincipal
) -> VersionPublic:
    with db.session(write=False) as s:
        return crud.version_public(s, crud.get_version(s, model=model, version=version))


@router.get(
    MODEL_ARTIFACT,
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download(
    model: ModelPath, version: VersionPath, db: DbDep, registry: RegistryDep, who: CurrentPrincipal
) -> Response:
    """The artifact bytes; the manifest signature is in `X-Edgefleet-Signature`."""
    if who.role not in (Role.ADMIN, Role.VIEWER, Role.DEVICE):
        raise Forbidden("credentials required")
    with db.session(write=False) as s:
        row = crud.get_version(s, model=model, version=version)
        sha, signature = row.sha256, row.signature
        content = registry.store.get(s, sha)
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"X-Edgefleet-Sha256": sha, "X-Edgefleet-Signature": signature},
    )


@router.post("/models/{model}/deployments", status_code=status.HTTP_201_CREATED)
def deploy(
    model: ModelPath, data: DeploymentCreate, db: DbDep, registry: RegistryDep, _: AdminDep
) -> DeploymentPublic:
    """Roll a version out to every device running the model, to a tag, or to a canary share."""
    dep_id = registry.deploy(model, data)
    with db.session(write=False) as s:
        return crud.deployment_public(s, crud.get_deployment(s, dep_id))


@router.get("/models/{model}/deployments")
def list_deployments(model: ModelPath, db: DbDep, _: ReaderDep) -> list[DeploymentPublic]:
    with db.session(write=False) as s:
        return [crud.deployment_public(s, d) for d in crud.list_deployments(s, model=model)]


@router.get("/deployments/{deployment_id}")
def get_deployment(deployment_id: RowIdPath, db: DbDep, _: ReaderDep) -> DeploymentPublic:
    with db.session(write=False) as s:
        return crud.deployment_public(s, crud.get_deployment(s, deployment_id))


@router.post("/deployments/{deployment_id}/rollback")
def rollback(
    deployment_id: RowIdPath, db: DbDep, registry: RegistryDep, _: AdminDep
) -> DeploymentPublic:
    """Return the deployment's devices to the parent version (re-signed as a newer one)."""
    registry.rollback(deployment_id, "rolled back by an operator")
    with db.session(write=False) as s:
        return crud.deployment_public(s, crud.get_deployment(s, deployment_id))


@router.get("/models/{model}/devices")
def device_models(model: ModelPath, db: DbDep, _: ReaderDep) -> list[DeviceModelPublic]:
    """Which version each device reports running (or refused, with the reason)."""
    with db.session(write=False) as s:
        return crud.device_models(s, model=model)


@router.put(MODEL_REPORT, status_code=status.HTTP_200_OK)
def report(
    model: ModelPath, data: DeviceModelReport, db: DbDep, who: DeviceDep
) -> DeviceModelPublic:
    """A device reports the version it runs, or one it refused and why."""
    assert who.device_id is not None
    with db.session(write=True) as s:
        crud.record_report(s, device_id=who.device_id, model=model, report=data, now=utcnow())
        return next(r for r in crud.device_models(s, model=model) if r.device_id == who.device_id)
