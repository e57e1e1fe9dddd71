"""The agent hands freed heap back to the OS (edge_agent/memory.py): glibc keeps freed
blocks below a live one resident until `malloc_trim`."""

import ctypes

import psutil

from edge_agent.memory import release_free_memory

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
