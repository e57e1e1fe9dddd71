"""`GET /live` (below the API prefix): a Server-Sent Events stream of what the ingest
writer just committed.

After each committed batch the SQL writer thread hands the batch to `LiveHub.publish`, which
turns it into small JSON updates - state changes, the newest heartbeat per device, results,
events and errors - and fans them out to every open stream on the event loop. One SSE message
carries one batch (`event: update`, `data: [...]`), so 10,000 devices heartbeating cost the
browser a few messages a second, not thousands. A subscriber that falls behind loses its
backlog and gets `event: resync` (reload what you show); streams end after `MAX_STREAM_S`
and EventSource reconnects by itself, which also lets a stopping hub drain its connections.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from cloud_hub.api.deps import ReaderDep
from cloud_hub.core.errors import Unavailable
from cloud_hub.ingest.rows import Batch
from cloud_hub.schemas.common import error_responses

router = APIRouter(tags=["live"])
QUEUE_MAX = 256
KEEPALIVE_S = 15.0
MAX_STREAM_S = 300.0
RETRY_MS = 2000

Update = dict[str, Any]


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def updates(batch: Batch) -> list[Update]:
    """The browser-sized view of one committed batch (pure)."""
    out: list[Update] = [
        {
            "type": "state",
            "device": c["device_id"],
            "from": str(c["from_state"]),
            "to": str(c["to_state"]),
            "reason": c["reason"],
            "ts": _iso(c["ts"]),
        }
        for c in batch.state_changes
    ]
    newest: dict[str, dict[str, Any]] = {}
    for row in batch.health:
        seen = newest.get(row["device_id"])
        if seen is None or row["ts"] >= seen["ts"]:
            newest[row["device_id"]] = row
    out += [
        {
            "type": "health",
            "device": d,
            "ts": _iso(h["ts"]),
            "cpu": h["cpu"],
            "mem": h["mem"],
            "rtt_ms": h["rtt_ms"],
            "infer_ms_p50": h["infer_ms_p50"],
            "offload_ratio": h["offload_ratio"],
            "queue_depth": h["queue_depth"],
        }
        for d, h in newest.items()
    ]
    out += [
        {
            "type": "result",
            "device": x["device_id"],
            "model": x["model"],
            "where": x["where"],
            "latency_ms": x["latency_ms"],
            "ts": _iso(x["ts"]),
        }
        for x in batch.results
    ]
    out += [
        {
            "type": "event",
            "device": e["device_id"],
            "kind": e["kind"],
            "model": e["model"],
            "ts": _iso(e["ts"]),
        }
        for e in batch.events
    ]
    out += [
        {
            "type": "error",
            "device": e["device_id"],
            "code": e["code"],
            "error": e["error"],
            "ts": _iso(e["ts"]),
        }
        for e in batch.errors
    ]
    return out


class LiveHub:
    """Fan-out from the writer thread to the streams on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.subscribers: set[asyncio.Queue[list[Update] | None]] = set()

    def publish(self, batch: Batch) -> None:
        """Called by the writer thread after each commit; never raises into it."""
        if not self.subscribers:
            return
        out = updates(batch)
        if out and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._fan_out, out)

    def _fan_out(self, out: list[Update]) -> None:
        for q in self.subscribers:
            if q.full():  # too slow: drop its backlog, tell it to reload
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(None)
            else:
                q.put_nowait(out)


def live_hub(request: Request) -> LiveHub:
    """The app's LiveHub, made and attached to the ingest writer on first use."""
    state = request.app.state
    hub: LiveHub | None = getattr(state, "live", None)
    if hub is None:
        hub = state.live = LiveHub(asyncio.get_running_loop())
        if state.writer is not None:
            state.writer.listeners.append(hub.publish)
    return hub


def _message(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _stream(hub: LiveHub, q: asyncio.Queue[list[Update] | None]) -> AsyncIterator[bytes]:
    try:
        yield f"retry: {RETRY_MS}\n".encode() + _message("hello", {"ts": time.time()})
        ends = time.monotonic() + MAX_STREAM_S
        while (left := ends - time.monotonic()) > 0:
            try:
                item = await asyncio.wait_for(q.get(), min(KEEPALIVE_S, left))
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            yield _message("resync", {}) if item is None else _message("update", item)
    finally:
        hub.subscribers.discard(q)


@router.get("/live", response_class=StreamingResponse, responses=error_responses(503))
async def live(request: Request, _: ReaderDep) -> StreamingResponse:
    """Server-Sent Events: `hello`, then `update` (a JSON list of `state`, `health`, `result`,
    `event` and `error` items) per committed ingest batch, and `resync` after an overflow.
    503 `not_ingesting` on a standby replica: the leader ingests (a proxy then asks the next)."""
    writer = request.app.state.writer
    if writer is not None and not writer.active:
        raise Unavailable(
            "this replica is a standby: another one ingests; ask it", code="not_ingesting"
        )
    hub = live_hub(request)
    q: asyncio.Queue[list[Update] | None] = asyncio.Queue(QUEUE_MAX)
    hub.subscribers.add(q)
    return StreamingResponse(
        _stream(hub, q),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
