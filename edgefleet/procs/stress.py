"""A busy device: bounded CPU stress processes, pinned and prioritised when allowed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

from edgefleet.procs.process import pin, stop_process


def _busy_loop(seconds: float) -> str:
    """The program each stress process runs: count until `seconds` have passed."""
    return (
        "import time\n"
        f"d = time.monotonic() + {seconds}\n"
        "x = 0\n"
        "while time.monotonic() < d:\n"
        "    x += 1\n"
    )


@contextlib.contextmanager
def cpu_stress(
    processes: int, seconds: float, cpus: set[int] | None = None, nice: int = 0
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`processes` busy loops, each ending by itself after `seconds` (bounded), pinned to
    `cpus` when given, at priority `nice` (negative needs privileges; ignored without them);
    stopped on exit of the block."""
    procs = []
    for _ in range(processes):
        p = subprocess.Popen([sys.executable, "-c", _busy_loop(seconds)])
        if cpus:
            pin(p.pid, cpus)
        if nice:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, p.pid, nice)
        procs.append(p)
    try:
        yield procs
    finally:
        for p in procs:
            stop_process(p, sig=signal.SIGKILL)
