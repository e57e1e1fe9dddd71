"""The agent hands freed heap back to the OS (edge_agent/memory.py): glibc keeps freed
blocks below a live one resident until `malloc_trim`."""

import asyncio
import ctypes
import gc

import psutil

from edge_agent.memory import memory_duty, release_free_memory

MB = 1024 * 1024


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def test_freed_heap_below_a_live_block_is_returned() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    blocks = [libc.malloc(4096) for _ in range(16 * 1024)]  # 64 MB, under the mmap threshold
    for block in blocks:
        libc.memset(block, 1, 4096)  # touched: resident
    pin = libc.malloc(4096)  # a live block above them: the heap's top cannot shrink
    try:
        for block in blocks:
            libc.free(block)
        kept = _rss()
        assert release_free_memory()
        assert kept - _rss() >= 32 * MB
    finally:
        libc.free(pin)


async def test_the_duty_freezes_start_up_objects_after_one_period() -> None:
    """Not before: the freeze's collection must not delay the agent's cold start."""
    gc.unfreeze()
    duty = asyncio.create_task(memory_duty(every_s=0.05))
    try:
        await asyncio.sleep(0)
        assert gc.get_freeze_count() == 0
        async with asyncio.timeout(5):
            while gc.get_freeze_count() == 0:  # noqa: ASYNC110  (no event for it)
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.12)  # two trims later it is still running
        assert not duty.done()
        duty.cancel()
        await asyncio.gather(duty, return_exceptions=True)
        # the agent stopping unfreezes them: an agent's objects must not outlive it in a
        # process that runs several (the test suite)
        assert gc.get_freeze_count() == 0
    finally:
        duty.cancel()
        gc.unfreeze()
