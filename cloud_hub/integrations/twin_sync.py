"""Ingest hook: after the writer commits reported twins, compare each with the desired one
and record concurrent versions as conflicts (visible in `GET .../twin/desired`)."""

import logging

from cloud_hub.core.clock import utcnow
from cloud_hub.core.db import Database
from cloud_hub.crud import twin as crud
from cloud_hub.ingest.rows import Batch
from cloud_hub.ingest.writer import IngestWriter

log = logging.getLogger(__name__)


class TwinConflictRecorder:
    """A writer listener; runs on the writer thread after each commit."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, batch: Batch) -> None:
        if not batch.twins:
            return
        try:
            self._record(batch)
        except Exception:  # never take the writer down; the twin is stored regardless
            log.exception("twin conflict check failed")

    def _record(self, batch: Batch) -> None:
        with self.db.session(write=True) as s:
            for device, reported in batch.twins.items():
                if crud.on_reported(s, device_id=device, reported=reported, now=utcnow()):
                    log.warning(
                        "twin conflict on %s: reported %s vs desired", device, reported.version
                    )


def install(db: Database, writer: IngestWriter) -> None:
    writer.listeners.append(TwinConflictRecorder(db))
