"""A registered fleet without enrollment: devices written straight into the hub's database."""

from __future__ import annotations

from datetime import UTC, datetime

from contract.health import DeviceState


def seed(url: str, n: int) -> list[str]:
    """Register n devices straight into a migrated database (tags, site, capabilities)."""
    from sqlalchemy import insert

    from cloud_hub.core.config import Settings
    from cloud_hub.core.db import Database, make_engine, upgrade
    from cloud_hub.core.security import digest
    from cloud_hub.db import tables as t

    engine = make_engine(Settings(database_url=url))
    upgrade(engine)
    now = datetime.now(UTC)
    ids = [f"dev-{i:05d}" for i in range(n)]
    states = tuple(DeviceState)
    with Database(engine).session(write=True) as s:
        s.execute(
            insert(t.Device),
            [
                {
                    "id": d,
                    "name": f"Device {i}",
                    "site": f"site-{i % 50}",
                    "hardware": "rpi4",
                    "agent_version": "0.1.0",
                    "meta": {},
                    "service_meta": {},
                    "secret_hash": digest(d),
                    "created_at": now,
                    "updated_at": now,
                    "state": states[i % 4],
                    "state_since": now,
                }
                for i, d in enumerate(ids)
            ],
        )
        s.execute(
            insert(t.DeviceTag),
            [{"device_id": d, "tag": f"group-{i % 100}"} for i, d in enumerate(ids)],
        )
        s.execute(
            insert(t.DeviceCapability),
            [
                {"device_id": d, "model": "face-detect-lite" if i % 3 else "wakeword-lite"}
                for i, d in enumerate(ids)
            ],
        )
    engine.dispose()
    return ids
