"""Leader election over a PostgreSQL advisory lock (`cloud_hub/core/leader.py`), on a real
server: one leader at a time; release, a closed connection or a terminated backend hands the
role to the next replica that asks."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from cloud_hub.core.leader import Leadership
from edgefleet.procs.wait import wait_until


@pytest.fixture
def engine(postgres_database: str) -> Iterator[Engine]:
    engine = create_engine(postgres_database)
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_one_leader_and_takeover(engine: Engine) -> None:
    a, b = Leadership(engine), Leadership(engine)
    assert (a.lead(), b.lead()) == (True, False)
    assert (a.lead(), b.lead()) == (True, False)  # kept, not re-taken
    a.release()
    assert (b.lead(), a.lead()) == (True, False)
    b.release()


@pytest.mark.postgres
def test_a_replica_without_mqtt_never_leads(engine: Engine) -> None:
    """Its jobs would send commands it can only record: the lock is left to one that can."""
    api, ingest = Leadership(engine, eligible=False), Leadership(engine)
    assert (api.lead(), ingest.lead(), api.lead()) == (False, True, False)
    ingest.release()
    assert not api.lead()


@pytest.mark.postgres
def test_a_leader_whose_session_ends_steps_down(engine: Engine) -> None:
    """What a crashed leader looks like to PostgreSQL: its session is gone, so is the lock."""
    a, b = Leadership(engine), Leadership(engine)
    assert a.lead()
    held = text(
        "SELECT pid FROM pg_locks"
        " WHERE locktype = 'advisory' AND objid = (:k & x'FFFFFFFF'::bigint)::oid"
    )
    with engine.connect() as admin:
        pids = admin.execute(held, {"k": a.key}).scalars().all()
        ended = [
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": p}).scalar() for p in pids
        ]
        assert ended == [True]
        # pg_terminate_backend only signals the backend: the lock goes when its process exits
        gone = lambda: not admin.execute(held, {"k": a.key}).scalars().all()  # noqa: E731
        wait_until(gone, None, timeout=10, what="the terminated leader's lock to go")
    assert b.lead()
    assert not a.lead()  # it notices on its next tick and does not take the lock back
    b.release()


def test_sqlite_is_always_the_leader() -> None:
    engine = create_engine("sqlite://")
    assert Leadership(engine).lead()
    assert Leadership(engine).leading
    engine.dispose()
