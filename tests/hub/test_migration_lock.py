"""Hub replicas starting together on one fresh PostgreSQL database: each runs the migrations at
start-up, and they must not race (Alembic takes no lock of its own). Real `edgefleet hub
migrate` processes, started at the same moment."""

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from cloud_hub.core.db import alembic_config

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]
REPLICAS = 4


def test_replicas_migrating_at_once_all_succeed(postgres_database: str, tmp_path: Path) -> None:
    cli = str(Path(sys.executable).with_name("edgefleet"))
    procs = [
        subprocess.Popen(
            [cli, "hub", "migrate"],
            env={
                "PATH": "/usr/bin:/bin",
                "EDGEFLEET_DATABASE_URL": postgres_database,
                "EDGEFLEET_DATA_DIR": str(tmp_path / f"replica-{i}"),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(REPLICAS)
    ]
    outputs = [p.communicate(timeout=100)[0] for p in procs]
    failed = [
        (p.returncode, out[-800:]) for p, out in zip(procs, outputs, strict=True) if p.returncode
    ]
    assert not failed, failed
    engine = create_engine(postgres_database)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()
    assert versions == [ScriptDirectory.from_config(alembic_config()).get_current_head()]
