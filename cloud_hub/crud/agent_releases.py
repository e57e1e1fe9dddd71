"""Agent releases: bundles stored by content, signed once, found by (version, arch, python)."""

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_hub.core.errors import Conflict, NotFound, Unprocessable
from cloud_hub.db import tables as t
from cloud_hub.ingest.sql import insert_ignore
from cloud_hub.registry.signing import SigningKey
from cloud_hub.registry.store import ArtifactStore
from cloud_hub.schemas.agent_releases import ARCH, AgentReleasePublic
from contract import AgentUpdateArgs
from contract.http import AGENT_BUNDLE, path
from contract.manifest import PYTHON_VERSION, RELEASE_VERSION, AgentRelease
from deploy.bundle.manifest import BundleTarget


def release_of(target: BundleTarget, sha256: str, size: int) -> AgentRelease:
    """The release a bundle's manifest describes; 422 `bad_release` for what a device could
    not install or name a directory after."""
    for field, value, pattern in (
        ("version", target.version, RELEASE_VERSION),
        ("arch", target.arch, ARCH),
        ("python", target.python, PYTHON_VERSION),
    ):
        if not re.fullmatch(pattern, value):
            raise Unprocessable(
                f"the bundle's manifest.json has {field} {value!r}, which does not match {pattern}",
                code="bad_release",
            )
    return AgentRelease(
        version=target.version, arch=target.arch, python=target.python, sha256=sha256, size=size
    )


def release(row: t.AgentReleaseRecord) -> AgentRelease:
    return AgentRelease(
        version=row.version, arch=row.arch, python=row.python, sha256=row.sha256, size=row.size
    )


def public(row: t.AgentReleaseRecord) -> AgentReleasePublic:
    return AgentReleasePublic(
        **release(row).model_dump(),
        signature=row.signature,
        note=row.note,
        created_at=row.created_at,
        download_url=bundle_path(row.sha256),
    )


def bundle_path(sha256: str) -> str:
    """Where a device downloads the bundle (device credentials)."""
    return path(AGENT_BUNDLE, sha256=sha256)


def command_args(row: t.AgentReleaseRecord) -> AgentUpdateArgs:
    """What `cmd/agent-update` carries: the release, its signature and where to download."""
    return AgentUpdateArgs(
        release=release(row), signature=row.signature, url=bundle_path(row.sha256)
    )


def register(
    s: Session,
    *,
    store: ArtifactStore,
    key: SigningKey,
    content: bytes,
    found: AgentRelease,
    note: str | None,
    now: datetime,
) -> tuple[t.AgentReleaseRecord, bool]:
    """Store and sign the release; (row, created). The same bytes again answer the stored row;
    another bundle of a stored (version, arch, python) is a 409 `release_exists`: a device
    that installed one must never be told the other is the same release."""
    row = by_sha(s, found.sha256)
    if row is not None:
        return row, False
    _refuse_other_bundle(s, found)
    store.put(s, content)
    values = {**found.model_dump(), "signature": key.sign(found), "note": note, "created_at": now}
    # ON CONFLICT DO NOTHING: a concurrent upload may have stored either unique key meanwhile
    table: Any = t.AgentReleaseRecord.__table__
    stmt = insert_ignore(table, s.get_bind().dialect.name).values(values)
    inserted = s.execute(stmt.returning(table.c.id)).scalar() is not None
    row = by_sha(s, found.sha256)
    if row is None:
        _refuse_other_bundle(s, found)
        raise AssertionError("an ignored insert left neither unique key behind")
    return row, inserted


def _refuse_other_bundle(s: Session, found: AgentRelease) -> None:
    r = t.AgentReleaseRecord
    other = s.scalar(
        select(r).where(r.version == found.version, r.arch == found.arch, r.python == found.python)
    )
    if other is not None and other.sha256 != found.sha256:
        raise Conflict(
            f"release {found.version} for {found.arch} / Python {found.python} already exists "
            f"with another bundle (sha256 {other.sha256}); give this build a new version",
            code="release_exists",
        )


def by_sha(s: Session, sha256: str) -> t.AgentReleaseRecord | None:
    return s.scalar(select(t.AgentReleaseRecord).where(t.AgentReleaseRecord.sha256 == sha256))


def get_by_sha(s: Session, sha256: str) -> t.AgentReleaseRecord:
    row = by_sha(s, sha256)
    if row is None:
        raise NotFound(f"no agent release with sha256 {sha256}", code="release_not_found")
    return row


def find(s: Session, *, version: str, arch: str, python: str) -> t.AgentReleaseRecord:
    """The release for that target; 404 `release_not_found` naming the builds of `version`
    there are (or saying there are none)."""
    r = t.AgentReleaseRecord
    rows = list(s.scalars(select(r).where(r.version == version).order_by(r.arch, r.python)))
    for row in rows:
        if (row.arch, row.python) == (arch, python):
            return row
    there = ", ".join(f"{row.arch} / Python {row.python}" for row in rows)
    raise NotFound(
        f"no release {version} for {arch} / Python {python}; "
        + (f"{version} exists for: {there}" if there else f"no release {version} at all"),
        code="release_not_found",
    )


def list_releases(s: Session) -> list[t.AgentReleaseRecord]:
    r = t.AgentReleaseRecord
    return list(s.scalars(select(r).order_by(r.created_at.desc(), r.id.desc())))
