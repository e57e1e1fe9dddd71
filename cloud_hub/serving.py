"""Serve a hub app inside the running event loop (tests, benchmarks, embedding).

`edgefleet hub` uses uvicorn's own runner; this is for callers that already own a loop and
want the real HTTP stack, lifespan included, on a loopback port.
"""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # uvicorn/FastAPI load only when serving: `free_port` is imported widely
    from fastapi import FastAPI

START_TIMEOUT_S = 20.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the machine may be shared: never a fixed one)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
