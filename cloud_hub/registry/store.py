"""Where model artifacts live, by content (sha256): the database by default, so that every hub
replica serves what any one stored; a directory when `artifact_dir` is set (a volume all
replicas mount). Both take the caller's session: an artifact commits with its version row, and
SQLite allows one writer, so a second session inside the first would wait for itself."""

import hashlib
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_hub.core.errors import NotFound
from cloud_hub.db import tables as t
from cloud_hub.ingest.sql import bulk_insert_ignore
from models.files import write_atomic


def _missing(sha256: str) -> NotFound:
    return NotFound(f"artifact {sha256} is missing from the store", code="artifact_missing")


class ArtifactStore(Protocol):
    def put(self, s: Session, content: bytes) -> str:
        """Store `content` (once); its sha256."""

    def get(self, s: Session, sha256: str) -> bytes:
        """The content; NotFound `artifact_missing` when it is not stored."""


class SqlArtifacts:
    """The `artifacts` table. `legacy` is the directory a hub before 2026-12 kept them in:
    still read, so versions registered then keep downloading."""

    def __init__(self, legacy: Path | None = None) -> None:
        self.legacy = FileArtifacts(legacy) if legacy is not None else None

    def put(self, s: Session, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        stored = s.scalar(select(t.Artifact.sha256).where(t.Artifact.sha256 == sha))
        if stored is None:  # the key read, not the blob; another replica may store it meanwhile
            bulk_insert_ignore(
                s, t.Artifact, [{"sha256": sha, "size": len(content), "data": content}]
            )
        return sha

    def get(self, s: Session, sha256: str) -> bytes:
        row = s.get(t.Artifact, sha256)
        if row is not None:
            return row.data
        if self.legacy is not None:
            return self.legacy.get(s, sha256)
        raise _missing(sha256)


class FileArtifacts:
    """`<root>/<sha256[:2]>/<sha256>`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, s: Session, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        path = self.path(sha)
        if not path.exists():
            write_atomic(path, content)
        return sha

    def get(self, s: Session, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise _missing(sha256) from None
