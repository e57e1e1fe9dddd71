"""Where the CPU goes while the agent serves a pipelined burst: its event loop (the main
thread), its inference workers (its other threads), the broker, and the bench's own client.

On a 2-core machine all four share the cores, so the MQTT rate is bounded by their sum as
much as by the model (issue: the agent's hot path). Read from /proc through psutil before and
after the burst; reported in ms of CPU per answered request and as cores kept busy."""

from __future__ import annotations

import os
from dataclasses import dataclass

ROLES = ("agent loop", "agent workers", "broker", "client")


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds (user + system) per role at one instant."""

    seconds: dict[str, float]


def sample(agent_pid: int, broker_pid: int) -> CpuSample:
    """The agent's threads (its main thread runs the event loop), the broker, this process."""
    import psutil

    loop = workers = 0.0
    for thread in psutil.Process(agent_pid).threads():
        busy = thread.user_time + thread.system_time
        if thread.id == agent_pid:
            loop += busy
        else:
            workers += busy
    broker = psutil.Process(broker_pid).cpu_times()
    client = psutil.Process(os.getpid()).cpu_times()
    return CpuSample(
        {
            "agent loop": loop,
            "agent workers": workers,
            "broker": broker.user + broker.system,
            "client": client.user + client.system,
        }
    )


def spent(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """CPU seconds each role spent between two samples."""
    return {r: after.seconds[r] - before.seconds[r] for r in ROLES}
