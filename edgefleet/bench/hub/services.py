"""What the hub bench runs against: a database (an SQLite file or a throwaway PostgreSQL
cluster) and the real hub app under uvicorn in a thread of this process."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cloud_hub.serving import free_port
from edgefleet.procs.hub import ADMIN_KEY
from edgefleet.procs.postgres import postgres


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """The SQLAlchemy URL of an empty database: `sqlite` in `workdir`, or `postgresql`."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'hub.db'}"
    else:
        with postgres() as url:
            yield url


@contextlib.contextmanager
def hub(url: str, workdir: Path, mqtt_port: int | None) -> Iterator[tuple[Any, int]]:
    """The real app under uvicorn in a thread; yields (app, http port)."""
    import uvicorn

    from cloud_hub.core.config import Settings
    from cloud_hub.main import create_app

    settings = Settings(
        database_url=url,
        data_dir=workdir,
        admin_api_key=ADMIN_KEY,
        mqtt_enabled=mqtt_port is not None,
        mqtt_port=mqtt_port or 1883,
        mqtt_username=None,
        cloud_models=[],
        log_level="WARNING",
        mqtt_client_id=f"bench-hub-{os.getpid()}",
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, name="bench-hub", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    if mqtt_port is not None:
        while not app.state.bridge.connected.is_set():
            time.sleep(0.02)
    try:
        yield app, port
    finally:
        server.should_exit = True
        thread.join(30)
