"""The registry's key and artifacts in the database (SQLite here; PostgreSQL with three real
replicas in tests/hub/test_replicas.py), and what a hub upgraded from files keeps."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from cloud_hub.core.db import Database, upgrade
from cloud_hub.core.errors import NotFound
from cloud_hub.registry.signing import SigningKey
from cloud_hub.registry.store import FileArtifacts, SqlArtifacts


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    upgrade(engine)
    database = Database(engine)
    yield database
    database.dispose()


def test_the_first_key_is_kept_and_a_file_key_is_brought_along(
    db: Database, tmp_path: Path
) -> None:
    """Devices pinned the key of a hub that kept it in a file: after the upgrade the database
    holds that very key, and a later start (or another replica) with another file keeps it."""
    old = SigningKey.load_or_create(tmp_path / "old.pem")
    first = SigningKey.shared(db, legacy=tmp_path / "old.pem")
    later = SigningKey.shared(db, legacy=tmp_path / "unrelated.pem")
    SigningKey.load_or_create(tmp_path / "other.pem")
    other = SigningKey.shared(db, legacy=tmp_path / "other.pem")
    assert first.public_key_b64 == later.public_key_b64 == other.public_key_b64
    assert first.public_key_b64 == old.public_key_b64
    assert not (tmp_path / "unrelated.pem").exists()  # nothing is written next to the hub


def test_a_new_hub_makes_one_key(db: Database, tmp_path: Path) -> None:
    keys = {SigningKey.shared(db, legacy=tmp_path / "none.pem").public_key_b64 for _ in range(3)}
    assert len(keys) == 1


def test_artifacts_by_content_with_the_old_directory_still_read(
    db: Database, tmp_path: Path
) -> None:
    legacy = FileArtifacts(tmp_path / "artifacts")
    with db.session(write=True) as s:
        old_sha = legacy.put(s, b"registered before the upgrade")
    store = SqlArtifacts(legacy=tmp_path / "artifacts")
    with db.session(write=True) as s:
        sha = store.put(s, b"model bytes")
        assert store.put(s, b"model bytes") == sha  # stored once
    with db.session(write=False) as s:
        assert store.get(s, sha) == b"model bytes"
        assert sha == hashlib.sha256(b"model bytes").hexdigest()
        assert store.get(s, old_sha) == b"registered before the upgrade"
        with pytest.raises(NotFound, match="missing"):
            store.get(s, "0" * 64)
        with pytest.raises(NotFound, match="missing"):
            SqlArtifacts().get(s, old_sha)
