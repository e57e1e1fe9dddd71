"""Which earlier rounds count, in SQL on both databases: a round the accuracy gate refused was
aggregated like a published one, so its DP release counts in the model's epsilon, and the next
round on the same base trains on from its weights."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from cloud_hub.crud import federated as crud
from cloud_hub.db import tables as t
from cloud_hub.federated.aggregate import gaussian_epsilon
from cloud_hub.schemas.federated import RoundCreate

NOW = datetime(2026, 12, 4, tzinfo=UTC)
DP = {"enabled": True, "noise_multiplier": 1.0}
PRIVACY = {"clip_norm": 1.0, "noise_multiplier": 1.0, "delta": 1e-5}


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = create_engine(database_url)
    with Session(engine) as s:
        yield s
    engine.dispose()


def add_round(s: Session, state: str, *, privacy: dict[str, Any], **fields: Any) -> int:
    row = t.FlRound(
        model="engine-fault",
        state=state,
        config={},
        base_version_id=1,
        privacy=privacy,
        created_at=NOW,
        updated_at=NOW,
        deadline=NOW + timedelta(minutes=5),
        **fields,
    )
    s.add(row)
    s.flush()
    return row.id


def test_refused_dp_rounds_count_in_the_models_epsilon(session: Session) -> None:
    add_round(session, "published", privacy=DP)
    add_round(session, "failed", privacy=DP, metrics={"gate": crud.GATE_REFUSED})
    add_round(session, "failed", privacy=DP, metrics={})  # never aggregated: does not count
    add_round(session, "published", privacy={"enabled": False})  # no DP: does not count
    config = RoundCreate(model="engine-fault", privacy=PRIVACY)
    record = crud.privacy_record(session, config)
    assert record["epsilon_total"] == round(gaussian_epsilon(1.0, 3, 1e-5), 4)
    assert record["epsilon_round"] == round(gaussian_epsilon(1.0, 1, 1e-5), 4)


def test_the_latest_refused_round_with_weights_is_continued(session: Session) -> None:
    refused = {"metrics": {"gate": crud.GATE_REFUSED}}
    old = add_round(session, "failed", privacy={}, weights=b"old", **refused)
    assert crud.last_refused(session, "engine-fault", 1).id == old  # type: ignore[union-attr]
    new = add_round(session, "failed", privacy={}, weights=b"new", **refused)
    for _ in range(25):  # rounds that failed for other reasons do not hide it
        add_round(session, "failed", privacy={}, weights=b"x", metrics={})
    add_round(session, "failed", privacy={}, **refused)  # no weights: nothing to go on from
    found = crud.last_refused(session, "engine-fault", 1)
    assert found is not None
    assert (found.id, found.weights) == (new, b"new")
    assert crud.last_refused(session, "engine-fault", 2) is None  # another base
