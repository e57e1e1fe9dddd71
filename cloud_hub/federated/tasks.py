"""`RoundTasks`: one asyncio task per round being finalized, fed by signals from any thread.

An upload's worker thread (or the ticker's) calls `signal(round_id)`; the event loop starts
the round's task `fl-round-<id>` unless it runs already, in which case it runs once more
afterwards (updates kept coming). The work itself runs in a worker thread.
"""

import asyncio
import logging
from collections.abc import Callable

import anyio

log = logging.getLogger(__name__)


class RoundTasks:
    """One asyncio task per round being finalized, named `fl-round-<id>`; `signal` may be
    called from any thread. Not bound to a loop, the work runs inline; closed, signals are
    dropped (the round stays `aggregating` for the next start's ticker)."""

    def __init__(self, work: Callable[[int], None]) -> None:
        self._work = work
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: dict[int, asyncio.Task[None]] = {}
        self._again: set[int] = set()
        self._closed = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def signal(self, round_id: int, *, again: bool = True) -> None:
        """Start the round's task; if it runs already, run it once more when `again`."""
        if self._closed:
            return  # stopping: the ticker of the next start takes the round up
        if self._loop is None:
            self._work(round_id)
            return
        self._loop.call_soon_threadsafe(self._start, round_id, again)

    def running(self, round_id: int) -> bool:
        return round_id in self._running

    def _start(self, round_id: int, again: bool) -> None:
        if self._closed:
            return
        if round_id in self._running:
            if again:
                self._again.add(round_id)
            return
        self._running[round_id] = asyncio.create_task(
            self._run(round_id), name=f"fl-round-{round_id}"
        )

    async def _run(self, round_id: int) -> None:
        try:
            while True:
                self._again.discard(round_id)
                await anyio.to_thread.run_sync(self._work, round_id)
                if round_id not in self._again:
                    return
        except Exception:
            log.exception("round %s: its task failed", round_id)
        finally:
            self._running.pop(round_id, None)

    async def close(self, timeout_s: float = 30.0) -> None:
        """Stop taking signals; let running steps finish (a thread cannot be interrupted)."""
        self._closed = True
        tasks = list(self._running.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        for task in tasks:
            task.cancel()
