"""The `health` heartbeat: psutil load, queue depth, median inference time, counters."""

import asyncio
import time
from collections.abc import Callable

import psutil

from broker.contract import Health, encode
from edge_agent.stats import Stats


class HealthReporter:
    """Builds one `Health` per tick and hands its bytes to `publish` every `interval_s`."""

    def __init__(
        self,
        stats: Stats,
        depth: Callable[[], int],
        publish: Callable[[bytes], object],
        interval_s: float,
    ) -> None:
        self._stats = stats
        self._depth = depth
        self._publish = publish
        self._interval = interval_s
        self._started = time.monotonic()
        self._seq = 0
        self._process = psutil.Process()
        psutil.cpu_percent(interval=None)  # prime: the first reading is meaningless

    def snapshot(self) -> Health:
        health = Health(
            cpu=min(psutil.cpu_percent(interval=None) / 100.0, 1.0),
            mem=min(psutil.virtual_memory().percent / 100.0, 1.0),
            queue_depth=self._depth(),
            infer_ms_p50=self._stats.infer_ms_p50(),
            offload_ratio=0.0,
            uptime_s=round(time.monotonic() - self._started, 3),
            seq=self._seq,
            rss_mb=round(self._process.memory_info().rss / 2**20, 1),
            counters=self._stats.snapshot(),
        )
        self._seq += 1
        return health

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self._publish(encode(self.snapshot()))
