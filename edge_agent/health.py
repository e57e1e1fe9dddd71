"""The `health` heartbeat: psutil load, queue depth, median inference time, counters."""

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from contract import Health, SourceHealth, encode
from edge_agent.stats import Stats


def cpu_utilisation() -> float:
    """Busy share (0..1) of the CPUs this process may run on: all of them on a device, the
    pinned ones when an operator (or a test) confines the agent to some cores."""
    import psutil  # loaded after start-up (edge_agent.load.LoadSampler)

    per_cpu = psutil.cpu_percent(percpu=True)
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    mine = [per_cpu[i] for i in cpus if i < len(per_cpu)] or per_cpu
    return min(sum(mine) / max(len(mine), 1) / 100.0, 1.0)


@dataclass(frozen=True, slots=True)
class Extras:
    """What offload and the outbox add to a heartbeat."""

    rtt_ms: float | None = None
    offload_ratio: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)  # gauges as counters (outbox.*)
    sources: dict[str, SourceHealth] = field(default_factory=dict)  # cameras, by name
    latency_ms: dict[str, float] = field(default_factory=dict)  # per model, local EWMA
    workers_free: int | None = None


class HealthReporter:
    """Builds one `Health` per tick and hands its bytes to `publish` every `interval_s`."""

    def __init__(
        self,
        stats: Stats,
        depth: Callable[[], int],
        publish: Callable[[bytes, str], object],
        interval_s: float,
        extras: Callable[[], Extras] = Extras,
    ) -> None:
        self._extras = extras
        self._stats = stats
        self._depth = depth
        self._publish = publish
        self._interval = interval_s
        self._started = time.monotonic()
        self._seq = 0

    @property
    def interval_s(self) -> float:
        return self._interval

    @interval_s.setter
    def interval_s(self, value: float) -> None:
        """Takes effect from the next tick (the twin sets it live)."""
        self._interval = value

    def snapshot(self) -> Health:
        import psutil  # loaded after start-up (edge_agent.load.LoadSampler)

        extras = self._extras()
        rtt = None if extras.rtt_ms is None else round(extras.rtt_ms, 3)
        health = Health(
            cpu=cpu_utilisation(),
            mem=min(psutil.virtual_memory().percent / 100.0, 1.0),
            queue_depth=self._depth(),
            infer_ms_p50=self._stats.infer_ms_p50(),
            rtt_ms=rtt,
            offload_ratio=min(max(extras.offload_ratio, 0.0), 1.0),
            uptime_s=round(time.monotonic() - self._started, 3),
            seq=self._seq,
            rss_mb=round(psutil.Process().memory_info().rss / 2**20, 1),
            msg_id=uuid.uuid4().hex,
            counters={**self._stats.snapshot(), **extras.counters},
            sources=extras.sources,
            latency_ms={m: round(v, 3) for m, v in extras.latency_ms.items()},
            workers_free=extras.workers_free,
        )
        self._seq += 1
        return health

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            health = self.snapshot()
            self._publish(encode(health), health.msg_id or "")
