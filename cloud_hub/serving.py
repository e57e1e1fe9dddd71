"""Serve a hub app inside the running event loop (tests, benchmarks, embedding).

`edgefleet hub` uses uvicorn's own runner; this is for callers that already own a loop and
want the real HTTP stack, lifespan included, on a loopback port.
"""

import asyncio
import secrets
import socket
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # uvicorn/FastAPI load only when serving: `free_port` is imported widely
    from fastapi import FastAPI

START_TIMEOUT_S = 20.0
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PORT = 10000  # below: well-known and commonly configured service ports
_recent: deque[int] = deque(maxlen=256)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the machine may be shared: never a fixed one).

    Chosen outside the kernel's ephemeral range: a port from `bind(0)` is free again once the
    probe socket closes, and the kernel may hand it to any outgoing connection as its source
    port before our server binds it - a hub's own MQTT connection took its HTTP port that way
    ("address already in use"). Ports handed out recently by this process are not reused, as
    callers often pick several before binding any."""
    pool = _outside_ephemeral_range()
    for _ in range(256):
        port = pool[secrets.randbelow(len(pool))]
        if port in _recent:
            continue
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _recent.append(port)
        return port
    raise RuntimeError(f"no free port on {host} in {pool.start}-{pool.stop - 1}")


def _outside_ephemeral_range() -> range:
    try:
        low, high = map(int, EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    below, above = range(_LOWEST_PORT, low), range(high + 1, 65536)
    pool = max(below, above, key=len)
    if len(pool) < 1024:
        raise RuntimeError(
            f"the ephemeral port range {low}-{high} ({EPHEMERAL_RANGE_FILE}) leaves too few "
            "ports for servers"
        )
    return pool


@asynccontextmanager
async def served(
    app: "FastAPI", port: int | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """Serve `app` on `host:port` (a free port by default) until the block ends; yields the
    base URL once the server accepts connections. A server that fails to start raises."""
    import uvicorn

    port = port or free_port(host)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the hub stopped before it started serving")
                await asyncio.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, START_TIMEOUT_S)
