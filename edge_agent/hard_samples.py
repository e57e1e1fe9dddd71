"""Hard samples: inputs the light model was unsure about while the cloud was unreachable.

Kept on disk, bounded (oldest deleted first), each as the raw input plus its `SampleMeta`
(JSON): the model, what the device answered and how sure it was, and the hub model to ask.
When the hub is back, `upload_pending` sends them (oldest first) to that model with the
device's answer, so the hub keeps them as hard samples like any second opinion
(docs/hub.md "Hard samples"); an uploaded sample leaves the device.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ValidationError

from contract import EdgeAnswer
from edge_agent.cloud import CloudClient, CloudError
from models.files import write_atomic

log = logging.getLogger(__name__)


class SampleMeta(BaseModel):
    model: str
    saved_at: float
    confidence: float
    rid: str | None = None
    source: str | None = None
    cloud_model: str | None = None  # the hub model the cascade would have asked
    content_type: str | None = None
    edge: EdgeAnswer | None = None  # what the device answered


class HardSamples:
    """A bounded directory of `{time}-{id}.bin` + `.json` pairs."""

    def __init__(self, directory: Path, max_samples: int) -> None:
        self.directory, self.max_samples = directory, max_samples
        self.saved = 0
        self.evicted = 0

    def count(self) -> int:
        if not self.directory.exists():
            return 0
        return sum(1 for _ in self.directory.glob("*.bin"))

    def save(self, payload: bytes, meta: SampleMeta) -> Path | None:
        """Store one sample (called from a worker thread); None when keeping none."""
        if self.max_samples <= 0:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        data = self.directory / f"{stem}.bin"
        write_atomic(data, payload)
        write_atomic(data.with_suffix(".json"), meta.model_dump_json(exclude_none=True).encode())
        self.saved += 1
        self._evict()
        return data

    def oldest(self, n: int) -> list[Path]:
        if not self.directory.exists():
            return []
        return sorted(self.directory.glob("*.bin"))[:n]

    def load(self, path: Path) -> tuple[bytes, SampleMeta] | None:
        """The input and its meta; None (and the pair removed) when either is unreadable."""
        try:
            return path.read_bytes(), SampleMeta.model_validate_json(
                path.with_suffix(".json").read_bytes()
            )
        except (OSError, ValidationError) as exc:
            log.warning("dropping unreadable hard sample %s: %s", path.name, exc)
            self.remove(path)
            return None

    @staticmethod
    def remove(path: Path) -> None:
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)

    def _evict(self) -> None:
        samples = sorted(self.directory.glob("*.bin"))
        for old in samples[: max(0, len(samples) - self.max_samples)]:
            self.remove(old)
            self.evicted += 1


async def upload_pending(hard: HardSamples, cloud: CloudClient, limit: int) -> tuple[int, int]:
    """Send up to `limit` kept samples to the hub, oldest first; (uploaded, dropped). Stops at
    the first failure that may pass (the hub away again); a sample the hub refuses as bad
    input, or one without a hub model to ask, is dropped."""
    uploaded = dropped = 0
    for path in await asyncio.to_thread(hard.oldest, limit):
        loaded = await asyncio.to_thread(hard.load, path)
        if loaded is None:
            dropped += 1
            continue
        payload, meta = loaded
        if meta.cloud_model is None or meta.edge is None or meta.content_type is None:
            hard.remove(path)  # kept by an older agent: nothing to ask the hub with
            dropped += 1
            continue
        try:
            await cloud.infer(meta.cloud_model, payload, meta.content_type, meta.rid, meta.edge)
        except CloudError as exc:
            if exc.retryable:
                break
            log.warning("hub refused hard sample %s: %s", path.name, exc)
            dropped += 1
        else:
            uploaded += 1
        await asyncio.to_thread(hard.remove, path)
    return uploaded, dropped


async def upload_forever(
    hard: HardSamples,
    cloud: CloudClient,
    shared: Callable[[], bool],
    count: Callable[[str, int], None],
    every_s: float,
    batch: int = 20,
) -> None:
    """The `hard-samples` task: while the cloud is reachable, send what was kept while it was
    not (while `shared()`, i.e. `offload.share_hard_samples`, which the twin may change; else
    they stay on the device)."""
    while True:
        await asyncio.sleep(every_s)
        if not shared() or not cloud.breaker.available() or hard.count() == 0:
            continue
        uploaded, dropped = await upload_pending(hard, cloud, batch)
        for name, n in (("uploaded", uploaded), ("dropped", dropped)):
            if n:
                count(f"hard_samples.{name}", n)
