"""A throwaway PostgreSQL cluster on a free loopback port (Debian's server binaries)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cloud_hub.serving import free_port

PG_BIN = Path(os.environ.get("EDGEFLEET_PG_BIN", "/usr/lib/postgresql/15/bin"))


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """initdb + pg_ctl start (as `postgres` when we are root); yields its SQLAlchemy URL and
    removes the cluster afterwards."""
    base = Path(tempfile.mkdtemp(prefix="edgefleet-bench-pg-"))
    owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if owner:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    data = str(base / "data")
    pg_ctl = [*owner, str(PG_BIN / "pg_ctl"), "-D", data]
    initdb = [*owner, str(PG_BIN / "initdb"), "-D", data, "-U", "postgres", "-A", "trust"]
    subprocess.run([*initdb, "--no-sync"], check=True, capture_output=True)
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c synchronous_commit=off"
    start = [*pg_ctl, "-l", str(base / "log"), "-w", "-o", opts, "start"]
    subprocess.run(start, check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        stop = [*pg_ctl, "-m", "fast", "-w", "stop"]
        subprocess.run(stop, check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
