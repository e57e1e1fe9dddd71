"""Pure-ASGI middleware: body size limit, request metrics and one structured log line each.

The limit (`max_body_bytes`) holds for every path but the few in `own_limit`, whose routes
stream the body and stop at a larger limit of their own (agent bundle uploads)."""

import json
import logging
import time
from collections.abc import Collection
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud_hub.core.errors import error_body
from cloud_hub.core.metrics import HubMetrics

log = logging.getLogger("cloud_hub.access")


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class HubMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HubMetrics,
        max_body: int,
        own_limit: Collection[str] = (),
    ) -> None:
        self.app, self.metrics, self.max_body = app, metrics, max_body
        self.own_limit = frozenset(own_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if b"%00" in scope.get("query_string", b""):
                # PostgreSQL refuses NUL in text parameters (a 500 from the driver otherwise)
                status = 422
                await _send_json(
                    send,
                    422,
                    error_body("validation_error", "query parameters must not contain NUL (%00)"),
                )
                return
            own = scope["path"] in self.own_limit
            limited = receive if own else await self._limit(scope, receive)
            if limited is None:
                status = 413
                await _send_json(
                    send,
                    413,
                    error_body("payload_too_large", f"body exceeds the {self.max_body}-byte limit"),
                )
                return
            await self.app(scope, limited, send_status)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    async def _limit(self, scope: Scope, receive: Receive) -> Receive | None:
        """None when the body is too large; else a receive to hand on (maybe replaying)."""
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            return None if declared.isdigit() and int(declared) > self.max_body else receive
        if b"chunked" not in headers.get(b"transfer-encoding", b""):
            return receive
        messages: list[Message] = []
        size, more = 0, True
        while more:  # no length declared: buffer up to the limit, then replay
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_body:
                return None
            more = message["type"] == "http.request" and message.get("more_body", False)

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return replay

    def _observe(self, scope: Scope, status: int, elapsed: float) -> None:
        # the route template (low-cardinality label); FastAPI >= 0.16x keeps the prefixed
        # one in its effective route context, older ones in scope["route"]
        context = (scope.get("fastapi") or {}).get("effective_route_context")
        path = (
            getattr(context, "path", None)
            or getattr(scope.get("route"), "path", None)
            or "unmatched"
        )
        self.metrics.http_requests.labels(scope["method"], path, str(status)).inc()
        self.metrics.http_latency.labels(scope["method"], path).observe(elapsed)
        log.info(
            "%s %s %s",
            scope["method"],
            scope["path"],
            status,
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "route": path,
                "status": status,
                "ms": round(elapsed * 1000, 2),
            },
        )
