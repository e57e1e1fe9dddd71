"""A round's heavy half, in the round's own task: aggregation, ONNX export, signing and
deployment, never inside an uploader's HTTP request.

An upload (or the deadline ticker) only decides, in its transaction, that the round has what
it waits for (`close`): it sets the round `aggregating` and signals `RoundTasks`, from any
thread. The round's task runs `Finalizer.run` in a worker thread: one locked transaction
aggregates; an async buffer step returns the round to `training`, the final step registers
the signed version, the deployment goes out, and only then is the round `published`. A crash
fails the round with the reason; the uploader, answered long before, never sees it. A round
found `aggregating` without a task (the hub stopped mid-way) is taken up by the ticker.
The tasks themselves: federated/tasks.py.
"""

import logging
import time
from datetime import timedelta
from functools import cache
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from cloud_hub.core.clock import utcnow
from cloud_hub.core.db import Database
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
PENDING = ("invited", "keyed")  # participants the round still waits for
MIN_SECURE_SURVIVORS = 2  # one survivor's "sum" would be its own update


@cache
def training_engine() -> Any:
    from models.training import engine

    return engine


@cache
def validation_set() -> Any:
    from models.datasets.engine import held_out

    return held_out(2000)


def secure_ring(config: RoundCreate) -> tuple[wire.Encoding, float]:
    """How a secure round's updates are summed: its masked encoding (int8 steps in 32 bits, or
    64-bit fixed point) and, with int8, the step every device uses (0 otherwise)."""
    int8 = config.quantization == "int8"
    return wire.masked_encoding(int8), wire.int8_step(config.secure_range) if int8 else 0.0


def version_weights(s: Session, registry: Registry, version: t.ModelVersion) -> np.ndarray:
    """A version's flat fp32 parameters: stored beside it, or read back from its ONNX file."""
    from models.training.onnx_export import params_from_onnx

    store = registry.store
    if version.weights_sha256:
        weights = np.frombuffer(store.get(s, version.weights_sha256), "<f4")
    else:
        weights = params_from_onnx(training_engine().SHAPE, store.get(s, version.sha256))
    return weights.astype(np.float32)


def close(s: Session, row: t.FlRound, config: RoundCreate, pending: list[t.FlParticipant]) -> bool:
    """The final step is due: drop who did not upload, then fail the round at once if it
    cannot be aggregated, mark it `unmasking` (secure aggregation lost participants after the
    key exchange: the survivors are asked for their secrets with them, federated/unmask.py),
    or mark it `aggregating` (True) for its task."""
    now = utcnow()
    for p in pending:
        p.state = "dropped"
    if config.secure_aggregation and pending:
        names = ", ".join(p.device_id for p in pending)
        survivors = [p for p in crud.participants(s, row.id) if p.state == "uploaded"]
        if len(survivors) < max(config.min_clients, MIN_SECURE_SURVIVORS):
            crud.fail(
                row,
                f"secure aggregation: {names} dropped out after the key exchange and only "
                f"{len(survivors)} participant(s) uploaded (min_clients {config.min_clients}, "
                f"and at least {MIN_SECURE_SURVIVORS} so that no single update is revealed). "
                "No individual update was stored; start a new round.",
                now,
            )
            row.accumulator = None
            return False
        row.state, row.updated_at = "unmasking", now
        row.deadline = now + timedelta(seconds=config.deadline_s)
        return False
    accepted = crud.accepted(s, row.id)
    if len(accepted) < config.min_clients:
        crud.fail(
            row,
            f"{len(accepted)} accepted update(s) by the deadline, "
            f"min_clients is {config.min_clients}",
            now,
        )
        return False
    row.state, row.updated_at = "aggregating", now
    return True


class Finalizer:
    """Aggregates a round marked `aggregating`; runs in a worker thread, never on the loop."""

    def __init__(self, db: Database, registry: Registry) -> None:
        self.db = db
        self.registry = registry

    def run(self, round_id: int) -> None:
        try:
            outcome = self._step(round_id)
        except Exception as exc:
            log.exception("round %s: aggregation failed", round_id)
            self._fail(round_id, f"aggregation failed: {type(exc).__name__}: {exc}")
            return
        if outcome is None:
            return
        version_id, model, deploy = outcome
        if deploy is not None:
            try:
                self.registry.deploy(model, deploy)
            except Exception:  # the version stands; the operator can deploy it by hand
                log.exception("round %s: deploying %s %s failed", round_id, model, deploy.version)
        with self.db.session(write=True) as s:
            row = crud.lock_round(s, round_id)
            if row.state == "aggregating" and row.result_version_id == version_id:
                row.state, row.updated_at = "published", utcnow()

    def _fail(self, round_id: int, reason: str) -> None:
        with self.db.session(write=True) as s:
            row = crud.lock_round(s, round_id)
            if row.state == "aggregating":
                crud.fail(row, reason, utcnow())
                row.accumulator = None

    def _step(self, round_id: int) -> tuple[int, str, DeploymentCreate | None] | None:
        """One locked transaction: a buffer step (None), or the final one: the new version's
        id, its model and how to deploy it. A version registered by an interrupted run is kept."""
        with self.db.session(write=True) as s:
            row = crud.lock_round(s, round_id)
            if row.state != "aggregating":
                return None
            config = RoundCreate.model_validate(row.config)
            pending = [p for p in crud.participants(s, round_id) if p.state in PENDING]
            if pending:  # an async buffer step: the round goes on
                self._aggregate(s, row, config, crud.unaggregated(s, round_id), final=False)
                return None
            if row.result_version_id is None:
                if not close(s, row, config, pending):
                    return None
                accepted = crud.accepted(s, row.id)
                fresh = crud.unaggregated(s, row.id)
                if fresh or row.step == 0:
                    self._aggregate(s, row, config, fresh, final=True)
                if row.state == "failed":
                    return None
                self._publish(s, row, config, accepted)
                if row.state == "failed":  # refused by the gate
                    return None
            version = s.get(t.ModelVersion, row.result_version_id)
            assert version is not None
            return version.id, row.model, config.deployment(version.version)

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
        weights = np.frombuffer(row.weights or b"", np.float32).astype(np.float64)
        rng = np.random.default_rng([config.seed, row.id, row.step])
        privacy = config.privacy
        if config.secure_aggregation:
            encoding, step = secure_ring(config)
            ring = np.frombuffer(row.accumulator or b"", wire.ring_dtype(encoding))
            total = wire.from_ring(ring, encoding, step)
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
    ) -> None:
        """Export, sign and register the round's weights as the model's next version; the
        round stays `aggregating` until its deployment went out. The gate first: a result
        that validates worse than its base version (by more than `max_regression`) fails the
        round and nothing is published, since clients' own figures cannot be trusted to show
        it (a round once published 42 % over a 55 % base while its clients reported 96 %)."""
        from models.training import mlp
        from models.training.onnx_export import export_onnx

        start = time.perf_counter()
        params = np.frombuffer(row.weights or b"", np.float32).copy()
        shape = training_engine().SHAPE
        val = validation_set()
        metrics = crud.client_metrics(accepted)
        accuracy = mlp.accuracy(shape, params, val.x, val.y)
        metrics["validation_accuracy"] = round(accuracy, 4)
        metrics["clients"] = len([u for u in accepted if u.aggregated])
        base = s.get(t.ModelVersion, row.base_version_id) if row.base_version_id else None
        refusal = None  # why the accuracy gate refused the result, if it did
        if base is not None:
            weights = version_weights(s, self.registry, base)
            base_accuracy = mlp.accuracy(shape, weights, val.x, val.y)
            metrics["base_validation_accuracy"] = round(base_accuracy, 4)
            limit = config.max_regression
            if aggregate.gate_refuses(accuracy, base_accuracy, limit):
                refusal = (
                    f"not published: validation accuracy {accuracy:.1%} is below base version "
                    f"{base.version}'s {base_accuracy:.1%} by more than max_regression "
                    f"({limit:.1%}); {base.version} stays the model's latest version, and the "
                    "next round goes on from this round's weights"
                )
            metrics["gate"] = crud.GATE_PASSED if refusal is None else crud.GATE_REFUSED
        row.metrics = {**(row.metrics or {}), **metrics}
        if refusal is not None:
            crud.fail(row, refusal, utcnow())
            return
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
        row.result_version_id = version.id
        row.aggregation_ms = round(
            (row.aggregation_ms or 0.0) + (time.perf_counter() - start) * 1000.0, 3
        )
        row.updated_at = utcnow()
