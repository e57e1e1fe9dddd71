"""Reconnect backoff: exponential with jitter from tenacity, capped, reset after success."""

import asyncio

import pytest
from aiomqtt import MqttError
from tenacity import AsyncRetrying

from edge_agent import link as link_module
from edge_agent.config import BrokerConfig
from edge_agent.link import Link, reconnect_backoff
from edge_agent.messages import Outbound


class Sleeps:
    """A recording `sleep` for tenacity; raises Done after `stop_after` sleeps."""

    class Done(Exception):
        pass

    def __init__(self, stop_after: int = 1000) -> None:
        self.delays: list[float] = []
        self._stop_after = stop_after

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if len(self.delays) >= self._stop_after:
            raise self.Done


async def failed_attempts(backoff: AsyncRetrying, n: int) -> None:
    """`n` failed connects, then a successful one, in one round of `backoff`."""
    failures = 0
    async for attempt in backoff:
        with attempt:
            if failures < n:
                failures += 1
                raise MqttError("connection refused")


async def test_backoff_grows_caps_and_resets() -> None:
    sleeps = Sleeps()
    backoff = reconnect_backoff(0.5, 4.0, sleep=sleeps)
    await failed_attempts(backoff, 8)
    delays = sleeps.delays
    assert 0.5 <= delays[0] <= 1.0
    assert 1.0 <= delays[1] <= 1.5
    assert 2.0 <= delays[2] <= 2.5
    assert all(d <= 4.0 for d in delays)
    assert delays[-1] == 4.0
    await failed_attempts(backoff, 1)  # a new round (after a session): from the first delay
    assert sleeps.delays[-1] <= 1.0


async def test_backoff_retries_only_mqtt_errors() -> None:
    sleeps = Sleeps()

    async def buggy() -> None:
        async for attempt in reconnect_backoff(0.5, 4.0, sleep=sleeps):
            with attempt:
                raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await buggy()
    assert sleeps.delays == []


async def test_link_restarts_the_backoff_after_an_established_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Failed connects wait longer each time; a session that was established and then lost
    is followed by the first delay again, and the count starts over."""
    sleeps = Sleeps(stop_after=5)
    real = link_module.reconnect_backoff
    monkeypatch.setattr(
        link_module,
        "reconnect_backoff",
        lambda lo, hi, **kw: real(lo, hi, before_sleep=kw["before_sleep"], sleep=sleeps),
    )
    script = ["refused", "refused", "lost", "refused", "lost"]

    async def session() -> MqttError:
        if script.pop(0) == "refused":
            raise MqttError("connection refused")
        return MqttError("connection lost")

    config = BrokerConfig(reconnect_min_s=0.5, reconnect_max_s=4.0)
    offline = Outbound("s", b"offline")
    link = Link(
        config,
        client_id="d",
        will=offline,
        birth=lambda: offline,
        subscriptions=[],
        on_message=lambda m: None,
    )
    monkeypatch.setattr(link, "_session", session)
    with pytest.raises(Sleeps.Done):
        async with asyncio.timeout(5):
            await link.run()
    first, second, after_lost, again, after_lost_again = sleeps.delays
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 1.5
    assert 0.5 <= after_lost <= 1.0
    assert 1.0 <= again <= 1.5
    assert 0.5 <= after_lost_again <= 1.0
