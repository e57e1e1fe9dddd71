"""Automatic rounds: the hub starts a round of a model by itself once enough devices have sent
enough new hard samples of it (`Settings.fl_auto_rounds`, `schemas.federated.AutoRound`).

The hub's own `hard_samples` table is the measure: every question a device's cascade asks the
hub is one (docs/hub.md "Hard samples"), and those are the inputs the device keeps as lessons
(edge_agent/lessons.py), so "new hard samples since the last round" is "new lessons" without
any report from the devices. A device that does not share its hard samples
(`offload.share_hard_samples: false`) is never chosen by this rule. Runs on the leader replica
in the federated ticker (`lifespan._tick`).
"""

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_hub.core.clock import utcnow
from cloud_hub.core.db import Database
from cloud_hub.crud import federated as crud
from cloud_hub.db import tables as t
from cloud_hub.federated.rounds import RoundService
from cloud_hub.schemas.federated import AutoRound

log = logging.getLogger(__name__)
UNDER_WAY = ("open", "training", "unmasking", "aggregating")


def ready_devices(s: Session, rule: AutoRound, now: datetime) -> list[str] | None:
    """The devices the rule would start a round with now; None when it would not."""
    config = rule.round
    last = s.scalar(
        select(t.FlRound).where(t.FlRound.model == config.model).order_by(t.FlRound.id.desc())
    )
    if last is not None and (
        last.state in UNDER_WAY or (now - last.created_at).total_seconds() < rule.min_interval_s
    ):
        return None
    query = (
        select(t.HardSample.device_id, func.count())
        .where(t.HardSample.model == config.model)
        .group_by(t.HardSample.device_id)
    )
    if last is not None:
        query = query.where(t.HardSample.ts > last.created_at)
    counts: dict[str, int] = dict(s.execute(query).all())
    chosen = crud.candidates(
        s, model=config.model, tag=config.tag, site=config.site, health=config.health
    )
    ready = [d for d in chosen if counts.get(d, 0) >= rule.min_new_samples]
    return ready if len(ready) >= max(rule.min_devices, config.min_clients) else None


class AutoRounds:
    def __init__(self, db: Database, rounds: RoundService, rules: list[AutoRound]) -> None:
        self.db, self.rounds, self.rules = db, rounds, rules

    def check(self) -> list[int]:
        """Start the rounds whose rule is met; their ids."""
        started = []
        for rule in self.rules:
            with self.db.session(write=False) as s:
                devices = ready_devices(s, rule, utcnow())
            if devices is None:
                continue
            round_id = self.rounds.start(rule.create(devices))
            log.info(
                "automatic round %s of %s: %d devices with >= %d new hard samples",
                round_id, rule.round.model, len(devices), rule.min_new_samples,
            )  # fmt: skip
            started.append(round_id)
        return started
