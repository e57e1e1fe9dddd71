"""The registry as the app uses it: store + signing key + commander, deployments sent after
their transaction commits, and the canary watch (rollback by re-signing the previous
artifact as a *newer* version, since devices refuse anything older)."""

import logging
from datetime import timedelta
from typing import Any

from cloud_hub.core.clock import utcnow
from cloud_hub.core.config import Settings
from cloud_hub.core.db import Database
from cloud_hub.crud import registry as crud
from cloud_hub.db import tables as t
from cloud_hub.registry.canary import LATENCY_FLOOR_MS, Verdict, verdict
from cloud_hub.registry.commander import Commander
from cloud_hub.registry.signing import SigningKey
from cloud_hub.registry.store import ArtifactStore, FileArtifacts, SqlArtifacts
from cloud_hub.schemas.registry import DeploymentCreate

log = logging.getLogger(__name__)


class Registry:
    def __init__(self, db: Database, settings: Settings, commander: Commander) -> None:
        self.db = db
        self.commander = commander
        data = settings.data_dir
        self.store: ArtifactStore = (
            FileArtifacts(settings.artifact_dir)
            if settings.artifact_dir
            else SqlArtifacts(legacy=data / "artifacts")
        )
        self.key = (
            SigningKey.load_or_create(settings.registry_key_file)
            if settings.registry_key_file
            else SigningKey.shared(db, legacy=data / "registry_ed25519.pem")
        )

    def deploy(self, model: str, data: DeploymentCreate, devices: list[str] | None = None) -> int:
        """Create the deployment, commit, then send `cmd/model-update` to its devices."""
        with self.db.session(write=True) as s:
            dep = crud.create_deployment(s, model=model, data=data, now=utcnow(), devices=devices)
            version = s.get(t.ModelVersion, dep.version_id)
            assert version is not None
            args, targets, dep_id = crud.command_args(version, dep.id), dep.devices, dep.id
        for device in targets:
            self.commander.send(device, args)
        return dep_id

    def check_canaries(self) -> None:
        """One pass over active canary deployments: roll back or promote as observed."""
        with self.db.session(write=False) as s:
            active = [
                d.id for d in crud.list_deployments(s, state="active") if d.target == "canary"
            ]
        for dep_id in active:
            self._check(dep_id)

    def _check(self, dep_id: int) -> None:
        now = utcnow()
        with self.db.session(write=False) as s:
            dep = crud.get_deployment(s, dep_id)
            config: dict[str, Any] = dep.config
            others = [
                d
                for d in crud.target_devices(
                    s, model=dep.model, target="all", tag=None, canary_percent=None
                )
                if d not in dep.devices
            ]
            refused = crud.refusals(s, deployment_id=dep.id)
            canary = crud.observe(s, model=dep.model, devices=dep.devices, since=dep.created_at)
            baseline = crud.observe(
                s,
                model=dep.model,
                devices=others,
                since=dep.created_at - timedelta(seconds=config["window_s"]),
            )
            elapsed = (now - dep.created_at).total_seconds()
        if refused:  # a canary that cannot run the version: no window to wait for
            device, reason = sorted(refused.items())[0]
            self.rollback(dep_id, f"refused by {len(refused)} canary device(s), {device}: {reason}")
            return
        outcome, why = verdict(
            canary,
            baseline,
            elapsed_s=elapsed,
            window_s=config["window_s"],
            max_error_rate=config["max_error_rate"],
            max_latency_ratio=config["max_latency_ratio"],
            min_latency_increase_ms=config.get("min_latency_increase_ms", LATENCY_FLOOR_MS),
        )
        if outcome is Verdict.DEGRADED:
            self.rollback(dep_id, why)
        elif outcome is Verdict.HEALTHY:
            self._finish(dep_id, "completed", why)
            if config.get("promote") and others:
                with self.db.session(write=False) as s:
                    dep = crud.get_deployment(s, dep_id)
                    version = s.get(t.ModelVersion, dep.version_id)
                    assert version is not None
                    name, model = version.version, dep.model
                self.deploy(model, DeploymentCreate(version=name), devices=others)

    def rollback(self, dep_id: int, reason: str) -> None:
        """Re-sign the version the canaries ran before as a new, higher version; send it."""
        with self.db.session(write=True) as s:
            dep = crud.get_deployment(s, dep_id)
            bad = s.get(t.ModelVersion, dep.version_id)
            assert bad is not None
            previous = s.get(t.ModelVersion, bad.parent_id) if bad.parent_id else None
            if previous is None:
                dep.state, dep.reason, dep.finished_at = (
                    "rolled_back",
                    (f"{reason}; no earlier version to return to"),
                    utcnow(),
                )
                return
            restored = crud.register_version(
                s,
                store=self.store,
                key=self.key,
                model=dep.model,
                content=self.store.get(s, previous.sha256),
                fmt=previous.format,
                now=utcnow(),
                weights=self.store.get(s, previous.weights_sha256)
                if previous.weights_sha256
                else None,
                parent_id=previous.id,
                metrics=previous.metrics,
                note=f"rollback of {bad.version} to {previous.version}",
            )
            dep.state, dep.reason = "rolled_back", reason
            dep.rollback_version_id, dep.finished_at = restored.id, utcnow()
            args, devices = crud.command_args(restored, dep.id), list(dep.devices)
        log.warning("canary deployment %s rolled back: %s", dep_id, reason)
        for device in devices:
            self.commander.send(device, args)

    def _finish(self, dep_id: int, state: str, reason: str) -> None:
        with self.db.session(write=True) as s:
            dep = crud.get_deployment(s, dep_id)
            dep.state, dep.reason, dep.finished_at = state, reason, utcnow()
