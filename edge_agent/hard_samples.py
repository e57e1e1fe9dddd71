"""Hard samples: inputs the light model was unsure about while the cloud was unreachable.

Kept on disk, bounded (oldest deleted first), each as the raw input plus a small JSON with the
model, the edge answer and its confidence: material for later labelling and federated training.
"""

import json
import time
import uuid
from pathlib import Path
from typing import Any

from models.files import write_atomic


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

    def save(self, model: str, payload: bytes, meta: dict[str, Any]) -> Path | None:
        """Store one sample (called from a worker thread); None when keeping none."""
        if self.max_samples <= 0:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        data = self.directory / f"{stem}.bin"
        write_atomic(data, payload)
        label = {"model": model, "saved_at": time.time(), **meta}
        write_atomic(data.with_suffix(".json"), json.dumps(label))
        self.saved += 1
        self._evict()
        return data

    def _evict(self) -> None:
        samples = sorted(self.directory.glob("*.bin"))
        for old in samples[: max(0, len(samples) - self.max_samples)]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
            self.evicted += 1
