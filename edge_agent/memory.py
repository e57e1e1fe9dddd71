"""The agent's resident set on a small device.

Start-up objects (modules, models' metadata, config) are frozen out of the garbage collector
once the agent is built, as the hub does: later collections no longer walk them.

glibc keeps what Python and the native libraries (OpenCV, LiteRT) freed: the top of each heap
and the free pages of every thread's arena stay resident, so the resident set only ever
grows to the largest burst seen (a 12 MP image, a queue full of requests, one arena per
worker thread). `malloc_trim(0)` hands those pages back; the `memory` duty calls it every
`TRIM_EVERY_S` (it took 0.4 ms the first time and ~0.01 ms after, here). On a C library
without it (musl, macOS) the duty does nothing.
"""

import asyncio
import ctypes
import gc
from collections.abc import Callable

TRIM_EVERY_S = 10.0


def freeze_startup() -> None:
    """Collect once, then exempt everything alive now from later collections."""
    gc.collect()
    gc.freeze()


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


async def trim_forever(every_s: float = TRIM_EVERY_S) -> None:
    """The `memory` duty."""
    trim = _malloc_trim()
    if trim is None:
        return
    while True:
        await asyncio.sleep(every_s)
        trim(0)  # ~0.01 ms once the first trim has been done: not worth a thread hop
