"""Writing a decoded batch into SQL, and the writer's housekeeping there.

A batch is one transaction: its rows (idempotent inserts: redeliveries are written once), the
twins newer than those stored, agent versions and capabilities, and the presence columns of
every device it touched; listeners hear of it only after the commit. Health roll-ups are not
kept per batch: the minutes batches touched are rolled up by `maintain`, which also deletes
what is past its retention.
"""

from collections.abc import Callable

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from cloud_hub.core.config import Settings
from cloud_hub.core.db import Database
from cloud_hub.db import tables as t
from cloud_hub.ingest import commands as cmds
from cloud_hub.ingest import rows as r
from cloud_hub.ingest import sql
from cloud_hub.ingest.runtime import Runtimes
from contract import TwinReported


class Store:
    """The SQL side of the writer thread."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        runtimes: Runtimes,
        listeners: list[Callable[[r.Batch], None]],
    ) -> None:
        self.db, self.settings, self.runtimes, self.listeners = db, settings, runtimes, listeners
        self._dirty_minutes: set[int] = set()

    def load(self, s: Session) -> None:
        """Minutes not rolled up yet (those of the newest roll-up on): they survive restarts."""
        newest = s.scalar(select(func.max(t.HealthRollup.minute)))
        pending = select(t.HealthSample.minute).distinct()
        if newest is not None:
            pending = pending.where(t.HealthSample.minute >= newest)
        self._dirty_minutes = set(s.scalars(pending))

    def flush(self, batch: r.Batch) -> None:
        with self.db.session(write=True) as s:
            sql.bulk_insert_ignore(s, t.HealthSample, batch.health)
            sql.bulk_insert_ignore(s, t.Result, batch.results)
            sql.bulk_insert_ignore(s, t.EventRow, batch.events)
            sql.bulk_insert_ignore(s, t.DeviceError, batch.errors)
            cmds.write(s, batch.commands)
            if batch.state_changes:
                s.execute(insert(t.DeviceStateChange), batch.state_changes)
            self._write_twins(s, batch.twins)
            self._write_status(s, batch)
            sql.update_devices(s, self.runtimes.rows(batch.touched))
        self._dirty_minutes |= batch.minutes
        for listener in self.listeners:  # dashboard live stream: after the commit
            listener(batch)

    def _write_twins(self, s: Session, twins: dict[str, TwinReported]) -> None:
        if not twins:
            return
        stored = dict(
            s.execute(
                select(t.DeviceTwin.device_id, t.DeviceTwin.version).where(
                    t.DeviceTwin.device_id.in_(twins)
                )
            ).all()
        )
        for device, twin in twins.items():
            if r.newer_twin(stored.get(device), twin.version):
                s.merge(
                    t.DeviceTwin(
                        device_id=device, version=twin.version, state=twin.state, ts=twin.ts
                    )
                )

    def _write_status(self, s: Session, batch: r.Batch) -> None:
        if batch.versions:
            s.connection().execute(
                update(sql.DEVICES)
                .where(sql.DEVICES.c.id == bindparam("_id"))
                .values(agent_version=bindparam("v")),
                [{"_id": d, "v": v} for d, v in batch.versions.items()],
            )
        for device, models in batch.capabilities.items():
            current = set(
                s.scalars(
                    select(t.DeviceCapability.model).where(t.DeviceCapability.device_id == device)
                )
            )
            if current != set(models) and device in self.runtimes:
                s.execute(delete(t.DeviceCapability).where(t.DeviceCapability.device_id == device))
                s.add_all(
                    t.DeviceCapability(device_id=device, model=m) for m in dict.fromkeys(models)
                )

    def maintain(self, now: float) -> None:
        """Roll up dirty minutes, then delete what is past its retention."""
        dirty, self._dirty_minutes = self._dirty_minutes, set()
        try:
            with self.db.session(write=True) as s:
                sql.rollup_minutes(s, dirty)
        except Exception:
            self._dirty_minutes |= dirty
            raise
        st = self.settings
        raw_cut = int((now - st.health_raw_retention_s) // 60)
        rollup_cut = int((now - st.health_rollup_retention_s) // 60)
        results_cut = r.dt(now - st.results_retention_s)
        with self.db.session(write=True) as s:
            s.execute(delete(t.HealthSample).where(t.HealthSample.minute < raw_cut))
            s.execute(delete(t.HealthRollup).where(t.HealthRollup.minute < rollup_cut))
            s.execute(
                delete(t.DeviceStateChange).where(
                    t.DeviceStateChange.ts < r.dt(now - st.health_rollup_retention_s)
                )
            )
            for table in (t.Result, t.EventRow, t.DeviceError, t.CommandRecord):
                s.execute(delete(table).where(table.ts < results_cut))
