"""Round orchestration, written once: start -> (keys) -> training -> aggregating -> published
| failed. Control goes to devices as `cmd/fl-train` over MQTT; weights and updates go over
HTTP. Every state change is a SQL transaction, so the round survives a hub restart and the
API shows exactly what happened."""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_hub.core.clock import utcnow
from cloud_hub.core.db import Database
from cloud_hub.core.errors import Conflict, NotFound
from cloud_hub.crud import federated as crud
from cloud_hub.crud import registry as reg
from cloud_hub.db import tables as t
from cloud_hub.federated import aggregate
from cloud_hub.federated.strategy import ClientUpdate, make_strategy
from cloud_hub.registry.service import Registry
from cloud_hub.schemas.federated import RoundCreate
from cloud_hub.schemas.registry import DeploymentCreate
from models.training import updates as wire

log = logging.getLogger(__name__)
TRAIN_COMMAND = "fl-train"
API = "/api/v1"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an upload came to: accepted, or the recorded reason it was not."""

    accepted: bool
    reason: str | None = None
    detail: str | None = None
    update_id: int | None = None


class RoundService:
    def __init__(self, db: Database, registry: Registry) -> None:
        self.db = db
        self.registry = registry

    # --- the model ---

    @cached_property
    def _engine(self) -> Any:
        from models.training import engine

        return engine

    @cached_property
    def _validation(self) -> Any:
        from models.datasets.engine import held_out

        return held_out(2000)

    def _base(self, s: Session, model: str) -> tuple[t.ModelVersion, np.ndarray]:
        """The latest version and its weights; the seed version is registered if none."""
        from models.training.onnx_export import export_onnx, params_from_onnx

        if model != "engine-fault":
            raise Conflict(
                f"federated training supports engine-fault, not {model!r}", code="unsupported_model"
            )
        base = reg.latest_version(s, model)
        if base is None:
            params = self._engine.seed_params()
            base = reg.register_version(
                s,
                store=self.registry.store,
                key=self.registry.key,
                model=model,
                content=export_onnx(self._engine.SHAPE, params),
                fmt="onnx",
                now=utcnow(),
                version="seed-1",
                weights=params.astype("<f4").tobytes(),
                note="seed version built by the hub",
            )
        if base.weights_sha256:
            weights = np.frombuffer(self.registry.store.get(base.weights_sha256), "<f4")
        else:
            weights = params_from_onnx(self._engine.SHAPE, self.registry.store.get(base.sha256))
        return base, weights.astype(np.float32)

    # --- start ---

    def start(self, config: RoundCreate) -> int:
        now = utcnow()
        with self.db.session(write=True) as s:
            base, weights = self._base(s, config.model)
            candidates = config.devices or crud.candidates(s, model=config.model)
            strategy = make_strategy(
                config.aggregation, trim=config.trim, staleness_alpha=config.staleness_alpha
            )
            picked = strategy.configure_train(
                candidates,
                fraction=config.fraction,
                min_clients=config.min_clients,
                rng=np.random.default_rng(config.seed),
            )
            row = t.FlRound(
                model=config.model,
                state="open",
                config=config.model_dump(mode="json"),
                base_version_id=base.id,
                weights=weights.tobytes(),
                step=0,
                privacy=crud.privacy_record(s, config),
                metrics={},
                created_at=now,
                updated_at=now,
                deadline=now + timedelta(seconds=config.deadline_s),
            )
            s.add(row)
            s.flush()
            for device in picked:
                s.add(t.FlParticipant(round_id=row.id, device_id=device, state="invited"))
            if len(picked) < config.min_clients:
                crud.fail(
                    row,
                    f"only {len(picked)} candidate device(s) for min_clients {config.min_clients}",
                    now,
                )
                return row.id
            if not config.secure_aggregation:
                row.state = "training"
            round_id = row.id
        phase = "keys" if config.secure_aggregation else "train"
        for device in picked:
            self.registry.commander.send(device, TRAIN_COMMAND, self._args(round_id, config, phase))
        return round_id

    def _args(
        self, round_id: int, config: RoundCreate, phase: str, peers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        privacy = config.privacy
        clip = privacy.clip_norm if privacy else None
        return {
            "round_id": round_id,
            "phase": phase,
            "model": config.model,
            "weights_url": f"{API}/fl/rounds/{round_id}/weights",
            "upload_url": f"{API}/fl/rounds/{round_id}/updates",
            "keys_url": f"{API}/fl/rounds/{round_id}/keys",
            "epochs": config.local_epochs,
            "learning_rate": config.learning_rate,
            "batch_size": config.batch_size,
            "quantization": config.quantization,
            "clip_norm": clip,
            "secure": config.secure_aggregation,
            "weight_by_samples": privacy is None,
            "peers": peers or {},
            "seed": config.seed,
        }

    # --- secure aggregation key exchange ---

    def announce_key(self, round_id: int, device: str, public_key: str) -> None:
        with self.db.session(write=True) as s:
            row = crud.lock_round(s, round_id)
            part = s.get(t.FlParticipant, (round_id, device))
            if part is None:
                raise NotFound(
                    f"{device} is not a participant of round {round_id}", code="not_participant"
                )
            if row.state != "open":
                raise Conflict(f"round {round_id} is {row.state}", code="round_closed")
            part.public_key, part.state = public_key, "keyed"
        self._maybe_begin_training(round_id, deadline_passed=False)

    def _maybe_begin_training(self, round_id: int, *, deadline_passed: bool) -> None:
        with self.db.session(write=True) as s:
            row = crud.lock_round(s, round_id)
            config = RoundCreate.model_validate(row.config)
            parts = crud.participants(s, round_id)
            keyed = {p.device_id: p.public_key for p in parts if p.public_key}
            if row.state != "open" or (len(keyed) < len(parts) and not deadline_passed):
                return
            now = utcnow()
            if len(keyed) < config.min_clients:
                crud.fail(
                    row,
                    f"secure aggregation: only {len(keyed)} device(s) sent keys by "
                    f"the deadline (min_clients {config.min_clients})",
                    now,
                )
                return
            for p in parts:
                if not p.public_key:
                    p.state = "dropped"
            row.state, row.updated_at = "training", now
            row.deadline = now + timedelta(seconds=config.deadline_s)
            peers = {d: k for d, k in keyed.items() if k is not None}
        for device in peers:
            self.registry.commander.send(
                device, TRAIN_COMMAND, self._args(round_id, config, "train", peers)
            )

    # --- updates ---

    def weights(self, round_id: int) -> tuple[bytes, int]:
        with self.db.session(write=False) as s:
            row = crud.get_round(s, round_id)
            assert row.weights is not None
            return row.weights, row.step

    def reject(self, round_id: int, device: str, size: int, reason: str, detail: str) -> Outcome:
        """Record an upload refused before it could be read (oversize, unenrolled)."""
        with self.db.session(write=True) as s:
            upd = crud.record(
                s, round_id=round_id, device=device, size=size, reason=reason, detail=detail
            )
            return Outcome(False, reason, detail, upd.id)

    def receive(
        self, round_id: int, device: str, body: bytes, base_step: int, metrics: dict[str, Any]
    ) -> Outcome:
        with self.db.session(write=True) as s:
            row = crud.lock_round(s, round_id)
            config = RoundCreate.model_validate(row.config)
            outcome = self._validate(s, row, config, device, body, base_step, metrics)
        if outcome.accepted:
            self.advance(round_id)
        return outcome

    def _validate(
        self,
        s: Session,
        row: t.FlRound,
        config: RoundCreate,
        device: str,
        body: bytes,
        base_step: int,
        metrics: dict[str, Any],
    ) -> Outcome:
        def refuse(reason: str, detail: str, **extra: Any) -> Outcome:
            extra.setdefault("metrics", metrics)
            upd = crud.record(
                s,
                round_id=row.id,
                device=device,
                size=len(body),
                reason=reason,
                detail=detail,
                **extra,
            )
            return Outcome(False, reason, detail, upd.id)

        part = s.get(t.FlParticipant, (row.id, device))
        if part is None or (part.state in ("invited", "dropped") and config.secure_aggregation):
            return refuse("not_participant", f"{device} was not given round {row.id}")
        if row.state != "training":
            return refuse("round_closed", f"round {row.id} is {row.state}")
        if crud.has_accepted(s, row.id, device):
            return refuse("duplicate", f"{device} already sent an update in round {row.id}")
        size = self.registry_shape_size()
        try:
            update = wire.decode_update(body, size)
        except wire.UpdateFormatError as exc:
            part.state = "rejected"
            return refuse(exc.reason, str(exc))
        masked = update.encoding is wire.Encoding.MASKED
        if masked != config.secure_aggregation:
            part.state = "rejected"
            return refuse(
                "wrong_dtype",
                "secure aggregation rounds take masked updates only"
                if config.secure_aggregation
                else "masked update in a plain round",
            )
        common: dict[str, Any] = {
            "encoding": update.encoding.name.lower(),
            "samples": update.samples,
            "metrics": metrics,
            "staleness": max(0, row.step - base_step),
        }
        if masked:
            crud.accumulate(row, update.values)
            part.state = "uploaded"
            upd = crud.record(
                s, round_id=row.id, device=device, size=len(body), accepted=True, **common
            )
            return Outcome(True, update_id=upd.id)
        values = update.to_float()
        if not np.all(np.isfinite(values)):
            part.state = "rejected"
            return refuse("non_finite", "the update contains NaN or Inf", **common)
        norm = float(np.linalg.norm(values))
        if norm > config.max_update_norm:
            part.state = "rejected"
            return refuse(
                "norm_too_large",
                f"L2 norm {norm:.3g} above the round's limit {config.max_update_norm}",
                norm=norm,
                **common,
            )
        part.state = "uploaded"
        upd = crud.record(
            s,
            round_id=row.id,
            device=device,
            size=len(body),
            accepted=True,
            norm=norm,
            blob=body,
            **common,
        )
        return Outcome(True, update_id=upd.id)

    def registry_shape_size(self) -> int:
        size: int = self._engine.SHAPE.size
        return size

    # --- aggregation ---

    def advance(self, round_id: int, *, deadline_passed: bool = False) -> None:
        """Aggregate when the round has what it waits for (all participants, a full async
        buffer, or the deadline); publish or fail."""
        deploy: tuple[str, str] | None = None
        with self.db.session(write=True) as s:
            row = crud.lock_round(s, round_id)
            if row.state != "training":
                return
            config = RoundCreate.model_validate(row.config)
            parts = crud.participants(s, round_id)
            pending = [p for p in parts if p.state in ("invited", "keyed")]
            fresh = crud.unaggregated(s, round_id)
            if config.mode == "async" and len(fresh) >= config.buffer_size and pending:
                self._aggregate(s, row, config, fresh, final=False)
                return
            if pending and not deadline_passed:
                return
            deploy = self._finish(s, row, config, parts, pending)
        if deploy is not None:
            self.registry.deploy(deploy[0], DeploymentCreate(version=deploy[1]))

    def _finish(
        self,
        s: Session,
        row: t.FlRound,
        config: RoundCreate,
        parts: list[t.FlParticipant],
        pending: list[t.FlParticipant],
    ) -> tuple[str, str] | None:
        now = utcnow()
        for p in pending:
            p.state = "dropped"
        accepted = crud.accepted(s, row.id)
        if config.secure_aggregation and pending:
            names = ", ".join(p.device_id for p in pending)
            crud.fail(
                row,
                f"secure aggregation: {names} dropped out after the key exchange; "
                "their pairwise masks cannot be removed, so the sum is unusable. "
                "No individual update was stored; start a new round.",
                now,
            )
            row.accumulator = None
            return None
        if len(accepted) < config.min_clients:
            crud.fail(
                row,
                f"{len(accepted)} accepted update(s) by the deadline, "
                f"min_clients is {config.min_clients}",
                now,
            )
            return None
        fresh = crud.unaggregated(s, row.id)
        if fresh or row.step == 0:
            self._aggregate(s, row, config, fresh, final=True)
        if row.state == "failed":
            return None
        version = self._publish(s, row, config, accepted)
        return (row.model, version) if config.deploy == "all" else None

    def _aggregate(
        self,
        s: Session,
        row: t.FlRound,
        config: RoundCreate,
        fresh: list[t.FlUpdate],
        *,
        final: bool,
    ) -> None:
        start = time.perf_counter()
        row.state = "aggregating"
        weights = np.frombuffer(row.weights or b"", np.float32).astype(np.float64)
        rng = np.random.default_rng([config.seed, row.id, row.step])
        privacy = config.privacy
        if config.secure_aggregation:
            total = wire.from_fixed(np.frombuffer(row.accumulator or b"", np.uint64))
            weight_sum = sum(u.samples or 0 for u in fresh) if privacy is None else len(fresh)
            delta = (
                aggregate.dp_mean(
                    total, weight_sum, privacy.clip_norm, privacy.noise_multiplier, rng
                )
                if privacy
                else total / max(weight_sum, 1)
            )
            row.accumulator = None
        else:
            updates = [
                ClientUpdate(
                    u.device_id,
                    wire.decode_update(u.blob or b"", weights.size).to_float(),
                    u.samples or 1,
                    u.staleness or 0,
                )
                for u in fresh
            ]
            updates = self._drop_outliers(fresh, updates, config)
            if not updates:
                crud.fail(row, "every update of the round was rejected", utcnow())
                return
            if privacy is not None:
                updates = [
                    ClientUpdate(
                        u.device_id, wire.clip_l2(u.delta, privacy.clip_norm), 1, u.staleness
                    )
                    for u in updates
                ]
            strategy = make_strategy(
                config.aggregation, trim=config.trim, staleness_alpha=config.staleness_alpha
            )
            delta = strategy.aggregate_train(updates)
            if privacy is not None:
                delta = delta + aggregate.gaussian_noise(
                    delta.size, privacy.noise_multiplier * privacy.clip_norm / len(updates), rng
                )
        for u in fresh:
            u.aggregated = u.accepted
        row.weights = (weights + delta).astype(np.float32).tobytes()
        row.step += 1
        row.state = "training" if not final else "aggregating"
        row.aggregation_ms = round(
            (row.aggregation_ms or 0.0) + (time.perf_counter() - start) * 1000.0, 3
        )
        row.updated_at = utcnow()

    def _drop_outliers(
        self, rows: list[t.FlUpdate], updates: list[ClientUpdate], config: RoundCreate
    ) -> list[ClientUpdate]:
        if len(updates) < 3:
            return updates
        norms = np.array([np.linalg.norm(u.delta) for u in updates])
        flags = aggregate.norm_outliers(norms, config.outlier_threshold)
        for row, flag, norm in zip(rows, flags, norms, strict=True):
            if flag:
                row.accepted, row.reason = False, "outlying_norm"
                row.detail = f"norm {norm:.3g} vs median {float(np.median(norms)):.3g}"
        return [u for u, flag in zip(updates, flags, strict=True) if not flag]

    def _publish(
        self, s: Session, row: t.FlRound, config: RoundCreate, accepted: list[t.FlUpdate]
    ) -> str:
        from models.training import mlp
        from models.training.onnx_export import export_onnx

        start = time.perf_counter()
        params = np.frombuffer(row.weights or b"", np.float32).copy()
        shape = self._engine.SHAPE
        val = self._validation
        metrics = crud.client_metrics(accepted)
        metrics["validation_accuracy"] = round(mlp.accuracy(shape, params, val.x, val.y), 4)
        metrics["clients"] = len([u for u in accepted if u.aggregated])
        version = reg.register_version(
            s,
            store=self.registry.store,
            key=self.registry.key,
            model=row.model,
            content=export_onnx(shape, params),
            fmt="onnx",
            now=utcnow(),
            weights=params.astype("<f4").tobytes(),
            parent_id=row.base_version_id,
            metrics=metrics,
            round_id=row.id,
            note=f"federated round {row.id}",
        )
        row.result_version_id, row.metrics, row.state = version.id, metrics, "published"
        row.aggregation_ms = round(
            (row.aggregation_ms or 0.0) + (time.perf_counter() - start) * 1000.0, 3
        )
        row.updated_at = utcnow()
        return version.version

    # --- deadlines ---

    def tick(self) -> None:
        """Advance rounds whose deadline passed (and the canary watch)."""
        now = utcnow()
        with self.db.session(write=False) as s:
            due = list(
                s.execute(
                    select(t.FlRound.id, t.FlRound.state).where(
                        t.FlRound.state.in_(("open", "training")), t.FlRound.deadline <= now
                    )
                )
            )
        for round_id, state in due:
            try:
                if state == "open":
                    self._maybe_begin_training(round_id, deadline_passed=True)
                else:
                    self.advance(round_id, deadline_passed=True)
            except Exception:
                log.exception("round %s: deadline handling failed", round_id)
        self.registry.check_canaries()
