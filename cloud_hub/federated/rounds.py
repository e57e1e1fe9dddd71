"""Round orchestration, written once: start -> (keys) -> training -> (unmasking) ->
aggregating -> published | failed. Control goes to devices as `cmd/fl-train` over MQTT;
weights and updates go over HTTP. Every state change is a SQL transaction, so the round
survives a hub restart and the API shows exactly what happened. An upload stores the update
and, when the round has what it waits for, marks it `aggregating` and signals; the round's own
task aggregates, publishes and deploys (federated/finalize.py)."""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_hub.core.clock import utcnow
from cloud_hub.core.db import Database
from cloud_hub.core.errors import Conflict, NotFound, Unprocessable
from cloud_hub.crud import federated as crud
from cloud_hub.crud import registry as reg
from cloud_hub.crud import samples
from cloud_hub.db import tables as t
from cloud_hub.federated.finalize import (
    PENDING,
    Finalizer,
    close,
    secure_ring,
    training_engine,
    version_weights,
)
from cloud_hub.federated.strategy import make_strategy
from cloud_hub.federated.tasks import RoundTasks
from cloud_hub.federated.unmask import decode_secrets, remove_masks
from cloud_hub.registry.service import Registry
from cloud_hub.schemas.federated import TRAINABLE, RoundCreate
from contract import FlTrainArgs
from contract.command import LABELS_MAX
from contract.http import ROUND_KEYS, ROUND_UNMASK, ROUND_UPDATES, ROUND_WEIGHTS, path
from models.training import updates as wire

log = logging.getLogger(__name__)


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
        self.finalizer = Finalizer(db, registry)
        self.tasks = RoundTasks(self._finalize)  # bound to the loop by the lifespan

    # --- the model ---

    @property
    def _engine(self) -> Any:
        return training_engine()

    def _base(self, s: Session, model: str) -> tuple[t.ModelVersion, np.ndarray]:
        """The latest version and its weights; the seed version is registered if none."""
        from models.training.onnx_export import export_onnx

        if model not in TRAINABLE:
            raise Unprocessable(
                f"model {model!r} has no trainable part: federated rounds train "
                f"{', '.join(sorted(TRAINABLE))}",
                code="not_trainable",
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
        return base, version_weights(s, self.registry, base)

    # --- start ---

    def start(self, config: RoundCreate) -> int:
        now = utcnow()
        with self.db.session(write=True) as s:
            base, weights = self._base(s, config.model)
            metrics: dict[str, Any] = {}
            start_from = weights.tobytes()
            refused = crud.last_refused(s, config.model, base.id)
            if refused is not None and refused.weights is not None:  # it asks for weights
                start_from = refused.weights
                metrics["continued_from_round"] = refused.id
            candidates = config.devices or crud.candidates(
                s, model=config.model, tag=config.tag, site=config.site, health=config.health
            )
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
                weights=start_from,
                step=0,
                privacy=crud.privacy_record(s, config),
                metrics=metrics,
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
            labels = {} if config.secure_aggregation else _labels(s, config.model, picked)
        phase: Literal["keys", "train"] = "keys" if config.secure_aggregation else "train"
        for device in picked:
            args = self._args(round_id, config, phase, labels=labels.get(device))
            self.registry.commander.send(device, args)
        return round_id

    def _args(
        self,
        round_id: int,
        config: RoundCreate,
        phase: Literal["keys", "train", "unmask"],
        peers: dict[str, str] | None = None,
        dropped: list[str] | None = None,
        labels: dict[str, int] | None = None,
    ) -> FlTrainArgs:
        privacy = config.privacy
        return FlTrainArgs(
            round_id=round_id,
            phase=phase,
            model=config.model,
            weights_url=path(ROUND_WEIGHTS, round_id=round_id),
            upload_url=path(ROUND_UPDATES, round_id=round_id),
            keys_url=path(ROUND_KEYS, round_id=round_id),
            epochs=config.local_epochs,
            learning_rate=config.learning_rate,
            batch_size=config.batch_size,
            quantization=config.quantization,
            clip_norm=privacy.clip_norm if privacy else None,
            secure=config.secure_aggregation,
            secure_range=config.secure_range if config.secure_aggregation else None,
            weight_by_samples=privacy is None,
            peers=peers or {},
            seed=config.seed,
            dropped=dropped or [],
            unmask_url=path(ROUND_UNMASK, round_id=round_id) if phase == "unmask" else None,
            labels=labels or {},
        )

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
            labels = _labels(s, config.model, list(peers))
        for device in peers:
            args = self._args(round_id, config, "train", peers, labels=labels.get(device))
            self.registry.commander.send(device, args)

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
        # open during an async buffer step too (the round still waits for someone then)
        buffer_step = row.state == "aggregating" and any(
            p.state in PENDING for p in crud.participants(s, row.id)
        )
        if row.state != "training" and not buffer_step:
            return refuse("round_closed", f"round {row.id} is {row.state}")
        if crud.has_accepted(s, row.id, device):
            return refuse("duplicate", f"{device} already sent an update in round {row.id}")
        size = self.registry_shape_size()
        try:
            update = wire.decode_update(body, size)
        except wire.UpdateFormatError as exc:
            part.state = "rejected"
            return refuse(exc.reason, str(exc))
        masked = update.encoding in wire.MASKED_ENCODINGS
        if masked != config.secure_aggregation:
            part.state = "rejected"
            return refuse(
                "wrong_dtype",
                "secure aggregation rounds take masked updates only"
                if config.secure_aggregation
                else "masked update in a plain round",
            )
        if masked and (wrong := _masked_mismatch(update, config)):
            part.state = "rejected"
            return refuse("wrong_dtype", wrong)
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

    # --- aggregation: decided here, done by the round's task ---

    def advance(self, round_id: int, *, deadline_passed: bool = False) -> None:
        """Signal the round's task when the round has what it waits for (all participants, a
        full async buffer, or the deadline); fail it at once when it cannot be aggregated;
        ask the survivors to unmask when secure aggregation lost participants."""
        unmask: FlTrainArgs | None = None
        survivors: list[str] = []
        with self.db.session(write=True) as s:
            row = crud.lock_round(s, round_id)
            if row.state != "training":
                return
            config = RoundCreate.model_validate(row.config)
            pending = [p for p in crud.participants(s, round_id) if p.state in PENDING]
            fresh = crud.unaggregated(s, round_id)
            buffer_full = config.mode == "async" and len(fresh) >= config.buffer_size
            if pending and buffer_full:
                row.state, row.updated_at = "aggregating", utcnow()  # a buffer step
            elif pending and not deadline_passed:
                return  # still waiting
            elif not close(s, row, config, pending):
                if row.state != "unmasking":
                    return  # failed at once (nothing to aggregate)
                parts = crud.participants(s, round_id)
                survivors = [p.device_id for p in parts if p.state == "uploaded"]
                dropped = [p.device_id for p in parts if p.state == "dropped" and p.public_key]
                unmask = self._args(round_id, config, "unmask", dropped=dropped)
        if unmask is not None:  # committed: now the survivors may answer
            log.warning("round %s: %s dropped out; unmasking", round_id, unmask.dropped)
            for device in survivors:
                self.registry.commander.send(device, unmask)
            return
        self.tasks.signal(round_id)

    def unmask(self, round_id: int, device: str, secrets: dict[str, str]) -> None:
        """A survivor's secrets with the dropped peers: their masks leave the sum; once every
        survivor has sent its own, the round is aggregated (federated/unmask.py)."""
        raw = decode_secrets(secrets)
        with self.db.session(write=True) as s:
            row = crud.lock_round(s, round_id)
            if row.state != "unmasking":
                raise Conflict(f"round {round_id} is {row.state}", code="not_unmasking")
            parts = crud.participants(s, round_id)
            me = next((p for p in parts if p.device_id == device), None)
            if me is None or me.state != "uploaded":
                state = me.state if me else "not a participant"
                raise Conflict(
                    f"{device} cannot unmask round {round_id} ({state})", code="not_survivor"
                )
            config = RoundCreate.model_validate(row.config)
            dropped = {p.device_id for p in parts if p.state == "dropped" and p.public_key}
            if set(raw) != dropped:
                raise Unprocessable(
                    f"round {round_id} needs the secrets with exactly {sorted(dropped)}",
                    code="wrong_peers",
                )
            encoding, _ = secure_ring(config)
            row.accumulator = remove_masks(row.accumulator or b"", device, raw, round_id, encoding)
            me.state = "unmasked"
            done = not any(p.state == "uploaded" for p in parts)
            if done:
                row.state, row.updated_at = "aggregating", utcnow()
        if done:
            self.tasks.signal(round_id)

    def _unmask_timed_out(self, round_id: int) -> None:
        with self.db.session(write=True) as s:
            row = crud.lock_round(s, round_id)
            if row.state != "unmasking":
                return
            late = [p.device_id for p in crud.participants(s, round_id) if p.state == "uploaded"]
            crud.fail(
                row,
                f"secure aggregation: {', '.join(late)} did not send the secrets for the "
                "dropped participants by the deadline; the sum stays masked. No individual "
                "update was stored; start a new round.",
                utcnow(),
            )
            row.accumulator = None

    def _finalize(self, round_id: int) -> None:
        """The round's task: aggregate, then look again (uploads kept coming meanwhile)."""
        self.finalizer.run(round_id)
        self.advance(round_id)

    # --- deadlines ---

    def tick(self) -> None:
        """Advance rounds whose deadline passed (and the canary watch)."""
        now = utcnow()
        with self.db.session(write=False) as s:
            due = list(
                s.execute(
                    select(t.FlRound.id, t.FlRound.state).where(
                        t.FlRound.state.in_(("open", "training", "unmasking")),
                        t.FlRound.deadline <= now,
                    )
                )
            )
            stranded = list(s.scalars(select(t.FlRound.id).where(t.FlRound.state == "aggregating")))
        for round_id in stranded:  # marked, but no task took it (the hub stopped meanwhile)
            if not self.tasks.running(round_id):
                self.tasks.signal(round_id, again=False)
        for round_id, state in due:
            try:
                if state == "open":
                    self._maybe_begin_training(round_id, deadline_passed=True)
                elif state == "unmasking":
                    self._unmask_timed_out(round_id)
                else:
                    self.advance(round_id, deadline_passed=True)
            except Exception:
                log.exception("round %s: deadline handling failed", round_id)
        self.registry.check_canaries()


def _labels(s: Session, model: str, devices: list[str]) -> dict[str, dict[str, int]]:
    """Per device, the classes operators gave to what it asked the hub about (the samples
    page's reviews): its `fl-train` carries them, and they replace the hub's answers."""
    return {
        d: samples.operator_labels(s, model=model, device_id=d, limit=LABELS_MAX) for d in devices
    }


def _masked_mismatch(update: wire.WireUpdate, config: RoundCreate) -> str | None:
    """Why a masked update cannot join this round's sum (None: it can): its encoding must be
    the round's (int8 steps or fixed point), and int8 steps must be the round's step, or the
    sum adds values of different sizes."""
    want, step = secure_ring(config)
    if update.encoding is not want:
        return (
            f"this round takes {want.name.lower()} updates (quantization {config.quantization}), "
            f"not {update.encoding.name.lower()}"
        )
    if want is wire.Encoding.MASKED32 and update.scale != step:
        return f"int8 steps of {update.scale:g}, the round's are {step:g} (secure_range / 127)"
    return None
