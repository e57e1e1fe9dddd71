"""Signed over-the-air model updates on the device.

`cmd/model-update` carries a manifest (model, version, seq, sha256, size, format), the hub's
Ed25519 signature over it and a download path. The artifact is downloaded over HTTP (device
Basic credentials), then refused unless: it is signed, the signature verifies with the hub key
pinned in the config, its sha256 and size match the manifest, and its `seq` is above the
running one (no rollback). A verified artifact is written atomically, fully loaded into new
pipeline instances, then swapped in one assignment per worker: a request in flight finishes
on the old instance, the next one runs on the new, none is dropped. A refusal leaves the old
model serving. Every outcome is reported to the hub (`PUT` contract.http.MODEL_REPORT).
"""

import asyncio
import hashlib
import importlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contract import ModelUpdateArgs, ModelUpdateResult, http
from contract.manifest import ModelManifest
from edge_agent.config import AgentConfig
from edge_agent.runner import PipelineLike
from models.files import write_atomic
from models.training.manifest import SignatureError, verify

log = logging.getLogger(__name__)


class Refused(Exception):
    """An artifact the device will not run; `reason` is reported to the hub."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def verify_artifact(
    data: bytes,
    manifest: ModelManifest,
    signature: str | None,
    public_key: str | None,
    running_seq: int | None,
) -> None:
    """Raise Refused(unsigned | bad_signature | tampered | rollback | no_key) or return."""
    if not public_key:
        raise Refused("no_key", "no hub public key pinned (model_sync.public_key)")
    if not signature:
        raise Refused("unsigned", f"{manifest.model} {manifest.version} is not signed")
    try:
        verify(manifest, signature, public_key)
    except SignatureError as exc:
        raise Refused("bad_signature", str(exc)) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest.sha256 or len(data) != manifest.size:
        raise Refused(
            "tampered",
            f"artifact sha256 {digest} ({len(data)} bytes) does not match "
            f"the signed manifest ({manifest.sha256}, {manifest.size} bytes)",
        )
    if running_seq is not None and manifest.seq <= running_seq:
        raise Refused(
            "rollback",
            f"version {manifest.version} (seq {manifest.seq}) is not "
            f"newer than the running seq {running_seq}",
        )


class SwappablePipeline:
    """A pipeline slot whose instance can be replaced while workers keep calling `run`.

    The live settings of `TUNABLE` (the twin's `pipelines.<m>.<name>` knobs) are properties
    that read and write the running instance; one the model lacks raises AttributeError, so
    `hasattr` tells whether the model has it. A value set through the slot is kept and given
    to every instance swapped in: a model update keeps what the operator chose."""

    TUNABLE = ("min_score",)

    def __init__(self, inner: PipelineLike, seq: int | None = None) -> None:
        self.model_id = inner.model_id
        self.version = inner.version
        self._inner = inner
        self.seq = seq
        self._tuned: dict[str, Any] = {}

    def run(self, payload: bytes) -> BaseModel:
        return self._inner.run(payload)  # one read of the reference: in-flight calls finish

    def swap(self, inner: PipelineLike, seq: int) -> None:
        for name, value in self._tuned.items():  # before it serves: never the default first
            if hasattr(inner, name):
                setattr(inner, name, value)
        self._inner, self.seq, self.version = inner, seq, inner.version

    @property
    def min_score(self) -> float:
        return float(self._get("min_score"))

    @min_score.setter
    def min_score(self, value: float) -> None:
        self._set("min_score", value)

    def _get(self, name: str) -> Any:
        try:
            return getattr(self._inner, name)
        except AttributeError:
            raise AttributeError(f"model {self.model_id} has no setting {name!r}") from None

    def _set(self, name: str, value: Any) -> None:
        self._get(name)  # only a setting the model has
        setattr(self._inner, name, value)
        self._tuned[name] = value


@dataclass(frozen=True, slots=True)
class Installed:
    manifest: ModelManifest
    signature: str
    path: Path


class ModelStore:
    """`<dir>/<model>/<sha256>.<format>` artifacts and `<model>/current.json`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def current(self, model: str) -> Installed | None:
        try:
            data = json.loads((self.root / model / "current.json").read_text())
            manifest = ModelManifest.model_validate(data["manifest"])
            return Installed(manifest, data["signature"], self.root / model / data["file"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def install(self, manifest: ModelManifest, signature: str, data: bytes) -> Path:
        name = f"{manifest.sha256}.{manifest.format}"
        path = self.root / manifest.model / name
        write_atomic(path, data)
        return path

    def commit(self, manifest: ModelManifest, signature: str, path: Path) -> None:
        doc = {"manifest": manifest.model_dump(), "signature": signature, "file": path.name}
        write_atomic(self.root / manifest.model / "current.json", json.dumps(doc).encode())
        for old in path.parent.glob(f"*.{manifest.format}"):  # keep only the running artifact
            if old != path:
                old.unlink(missing_ok=True)


def default_state_dir(config: AgentConfig) -> Path:
    if config.model_sync.state_dir is not None:
        return config.model_sync.state_dir
    base = os.environ.get("EDGEFLEET_STATE_DIR") or str(Path.home() / ".local/state/edgefleet")
    return Path(base) / f"models-{config.device_id}"


def load_version(model: str, path: Path, version: str, model_dir: Path | None) -> PipelineLike:
    """A pipeline for a registry artifact (single-file models), built like the catalogue's;
    Refused (`multi_file`, `unloadable`) when it cannot serve."""
    from models.catalogue import load_catalogue
    from models.pipelines import PIPELINES

    spec = load_catalogue().get(model)
    if len(spec.files) > 1:
        raise Refused(
            "multi_file",
            f"{model} is made of {len(spec.files)} files; a registry version replaces one",
        )
    module, _, cls_name = PIPELINES[spec.pipeline].partition(":")
    # the artifact stands in for the catalogue's one file (a model built here, such as
    # engine-fault, has none: its pipeline takes the artifact as it is named)
    files = {spec.files[0].name if spec.files else path.name: path}
    try:
        pipeline: Any = getattr(importlib.import_module(module), cls_name)(spec, files)
    except Exception as exc:  # a model that does not load: refused, and reported as such
        raise Refused("unloadable", f"{model} {version} does not load: {exc}") from None
    pipeline.version = version
    result: PipelineLike = pipeline
    return result


class ModelSync:
    """Applies `model-update` commands to the agent's swappable pipelines."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.store = ModelStore(default_state_dir(config))
        self.slots: dict[str, list[SwappablePipeline]] = {}

    def wrap(self, pipelines: dict[str, list[PipelineLike]]) -> dict[str, list[PipelineLike]]:
        """Every pipeline in a swappable slot; a verified installed version replaces the
        catalogue one at start (re-verified: sha256 + signature, as before every load)."""
        out: dict[str, list[PipelineLike]] = {}
        for model, instances in pipelines.items():
            installed = self._verified_current(model)
            if installed is not None:
                m = installed.manifest
                try:
                    instances = [
                        load_version(model, installed.path, m.version, self.config.model_dir)
                        for _ in instances
                    ]
                except Refused as exc:
                    log.error(
                        "installed %s refused at start (%s); serving the catalogue's", model, exc
                    )
                    installed = None
            slots = [
                SwappablePipeline(p, installed.manifest.seq if installed else None)
                for p in instances
            ]
            wrapped: list[PipelineLike] = list(slots)
            self.slots[model] = slots
            out[model] = wrapped
        return out

    def _verified_current(self, model: str) -> Installed | None:
        installed = self.store.current(model)
        if installed is None:
            return None
        try:
            verify_artifact(
                installed.path.read_bytes(),
                installed.manifest,
                installed.signature,
                self.config.model_sync.public_key,
                None,
            )
        except (Refused, OSError) as exc:
            log.error(
                "installed %s refused at start (%s); serving the catalogue version", model, exc
            )
            return None
        return installed

    def running(self, model: str) -> tuple[str, int | None]:
        slot = self.slots[model][0]
        return slot.version, slot.seq

    async def apply(self, args: ModelUpdateArgs) -> ModelUpdateResult:
        """Download, verify, install, swap; raise Refused with the reason otherwise."""
        manifest, url, signature = args.manifest, args.url, args.signature
        slots = self.slots.get(manifest.model)
        if not slots:
            raise Refused("not_loaded", f"model {manifest.model} is not loaded here")
        running_version, running_seq = self.running(manifest.model)
        if running_seq is not None and manifest.seq == running_seq:
            return ModelUpdateResult(
                model=manifest.model, version=running_version, seq=running_seq, unchanged=True
            )
        if manifest.size > self.config.model_sync.max_artifact_bytes:
            raise Refused("too_large", f"artifact of {manifest.size} bytes over the limit")
        data = await self._download(url, manifest.size)
        verify_artifact(data, manifest, signature, self.config.model_sync.public_key, running_seq)
        path = await asyncio.to_thread(self.store.install, manifest, str(signature), data)
        fresh = [
            await asyncio.to_thread(
                load_version, manifest.model, path, manifest.version, self.config.model_dir
            )
            for _ in slots
        ]
        for slot, pipeline in zip(slots, fresh, strict=True):
            slot.swap(pipeline, manifest.seq)
        await asyncio.to_thread(self.store.commit, manifest, str(signature), path)
        log.info("model %s now runs %s (seq %d)", manifest.model, manifest.version, manifest.seq)
        return ModelUpdateResult(model=manifest.model, version=manifest.version, seq=manifest.seq)

    async def _download(self, url: str, size: int) -> bytes:
        hub, auth = self.config.hub.url, self.config.hub_auth
        if hub is None or auth is None:
            raise Refused("no_hub", "hub.url and device credentials are needed to download")
        import httpx  # only a device with a hub needs it (footprint: docs/agent.md)

        try:
            async with httpx.AsyncClient(base_url=hub, auth=auth, timeout=30) as client:
                r = await client.get(url)
        except httpx.HTTPError as exc:
            raise Refused("download_failed", f"download failed: {exc}") from None
        if r.status_code != 200:
            raise Refused("download_failed", f"download answered {r.status_code}")
        if len(r.content) > self.config.model_sync.max_artifact_bytes:
            raise Refused("too_large", "artifact over the limit")
        return r.content

    async def report(self, model: str, body: dict[str, Any]) -> None:
        hub, auth = self.config.hub.url, self.config.hub_auth
        if hub is None or auth is None:
            return
        import httpx

        try:
            async with httpx.AsyncClient(base_url=hub, auth=auth, timeout=10) as client:
                r = await client.put(http.path(http.MODEL_REPORT, model=model), json=body)
                if r.status_code >= 400:
                    log.warning("model report refused: %s %s", r.status_code, r.text)
        except httpx.HTTPError as exc:
            log.warning("model report failed: %s", exc)
