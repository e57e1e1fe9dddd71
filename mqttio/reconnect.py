"""The one reconnect policy of the project's long-lived MQTT clients: the agent's link
(edge_agent/link.py) and the hub's bridge (cloud_hub/ingest/bridge.py).

Why a package of its own: both clients need it, and there is no lower package it fits in.
`contract` is the protocol (stdlib + pydantic only, no aiomqtt or tenacity); `cloud_hub` must not
import `edge_agent`; `broker` is the embedded amqtt server (its extra is not in the hub image);
`models` is about model files. `mqttio` depends only on aiomqtt and tenacity, which are
dependencies of every install (device and hub), and imports nothing of the project.

The shape is aiomqtt's recommended one: the reconnect loop sits outside `async with Client`,
each connection is a fresh client. A *session* is one connection: it raises MqttError if it
cannot be established (`serve_session` builds one from a client, a start step and a serve
step); once it was, it serves until the connection ends and returns the error that ended it.
`reconnect_forever` runs sessions forever under `reconnect_backoff`, tenacity's `AsyncRetrying`
with `wait_exponential_jitter`, retrying MqttError only: failed connects wait longer each
time; after an established session the backoff starts again from its first delay.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import NoReturn

import aiomqtt
from aiomqtt import MqttError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

__all__ = ["Session", "reconnect_backoff", "reconnect_forever", "serve_session"]

Session = Callable[[], Awaitable[MqttError]]


def reconnect_backoff(
    min_s: float,
    max_s: float,
    *,
    before_sleep: Callable[[RetryCallState], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncRetrying:
    """Retry on MqttError forever; after failed attempt n wait min_s * 2**(n-1) plus a jitter of
    up to min_s, at most max_s. Every `async for` over it starts again from attempt 1.
    `before_sleep` (tenacity's hook) is called before each wait: the caller logs it there."""
    return AsyncRetrying(
        wait=wait_exponential_jitter(multiplier=min_s, max=max_s, jitter=min_s),
        retry=retry_if_exception_type(MqttError),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )


async def reconnect_forever(session: Session, backoff: AsyncRetrying) -> NoReturn:
    """Run `session` again and again under `backoff`; ends only by raising (cancellation, or
    an error other than MqttError, which is not retried).

    One round of `backoff` per established session: the error that ended a session counts as
    the next round's first failure, so the reconnect waits the first delay (and `before_sleep`
    logs it like any failure), then the delays grow again from there."""
    ended: MqttError | None = None  # what ended the last established session
    while True:
        async for attempt in backoff:
            with attempt:
                if ended is not None:
                    error, ended = ended, None
                    raise error
                ended = await session()


async def serve_session(
    client: aiomqtt.Client,
    start: Callable[[aiomqtt.Client], Awaitable[None]],
    serve: Callable[[aiomqtt.Client], Awaitable[None]],
) -> MqttError:
    """One connection of `client`: connect, then `start` it (subscriptions, birth); a MqttError
    until `start` returned is raised. Once started, `serve` it; return the error that ended it."""
    established = False
    try:
        async with client:
            await start(client)
            established = True
            await serve(client)
        return MqttError("the broker ended the session")
    except MqttError as exc:
        if not established:
            raise
        return exc
