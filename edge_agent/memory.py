"""The agent's resident set on a small device: the `memory` duty.

One period after start (the agent is online and has served: its cold start is not delayed),
what is alive is frozen out of the garbage collector, as the hub does at start-up: later
collections no longer walk the modules, models' metadata and config.

glibc keeps what Python and the native libraries (OpenCV, LiteRT) freed: the top of each heap
and the free pages of every thread's arena stay resident, so the resident set only ever
grows to the largest burst seen (a 12 MP image, a queue full of requests, one arena per
worker thread). `malloc_trim(0)` hands those pages back; the duty calls it every
`TRIM_EVERY_S` (it took 0.4 ms the first time and ~0.01 ms after, here: not worth a thread
hop). On a C library without it (musl, macOS) only the freeze is done.
"""

import asyncio
import ctypes
import gc
from collections.abc import Callable

TRIM_EVERY_S = 10.0


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_free_memory() -> bool:
    """Return freed heap pages to the OS now; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


async def memory_duty(every_s: float = TRIM_EVERY_S) -> None:
    trim = _malloc_trim()
    await asyncio.sleep(every_s)
    gc.collect()
    gc.freeze()
    try:
        while True:  # until the agent stops
            if trim is not None:
                trim(0)
            await asyncio.sleep(every_s)
    finally:  # the frozen objects are this agent's: a process that runs agents one after
        gc.unfreeze()  # another (the tests) would keep every one (the hub's lifespan does so too)
