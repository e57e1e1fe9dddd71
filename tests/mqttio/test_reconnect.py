"""The shared reconnect loop: failed connects back off, an established session's ending error
waits the first delay and restarts the backoff, only MqttError is retried."""

import asyncio
from typing import cast

import aiomqtt
import pytest
from aiomqtt import MqttError
from tenacity import RetryCallState

from mqttio.reconnect import Session, reconnect_backoff, reconnect_forever, serve_session
from tests.edge_agent.test_link import Sleeps  # a recording `sleep` for tenacity


def scripted(script: list[str]) -> tuple[list[str], Session]:
    """A session that fails to connect ("refused") or is established and then lost ("lost")."""
    calls: list[str] = []

    async def session() -> MqttError:
        step = script.pop(0)
        calls.append(step)
        if step == "refused":
            raise MqttError("connection refused")
        if step == "bug":
            raise ValueError("a bug")
        return MqttError("connection lost")

    return calls, session


async def test_the_ending_error_waits_the_first_delay_and_restarts_the_backoff() -> None:
    sleeps = Sleeps(stop_after=6)
    logged: list[tuple[str, float]] = []

    def reconnecting(state: RetryCallState) -> None:
        assert state.outcome is not None
        assert state.upcoming_sleep is not None
        logged.append((str(state.outcome.exception()), state.upcoming_sleep))

    script = ["refused", "refused", "refused", "lost", "refused", "lost"]
    calls, session = scripted(script)
    backoff = reconnect_backoff(0.5, 4.0, before_sleep=reconnecting, sleep=sleeps)
    with pytest.raises(Sleeps.Done):
        async with asyncio.timeout(5):
            await reconnect_forever(session, backoff)
    assert calls == ["refused", "refused", "refused", "lost", "refused", "lost"]
    first, second, third, after_lost, again, after_lost_again = sleeps.delays
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 1.5
    assert 2.0 <= third <= 2.5
    assert 0.5 <= after_lost <= 1.0  # the lost session is the new round's first failure
    assert 1.0 <= again <= 1.5  # then the delays grow again from there
    assert 0.5 <= after_lost_again <= 1.0
    # every wait is logged through before_sleep, with the error that caused it
    assert [error for error, _ in logged] == [
        "connection refused",
        "connection refused",
        "connection refused",
        "connection lost",
        "connection refused",
        "connection lost",
    ]
    assert [delay for _, delay in logged] == sleeps.delays


async def test_only_mqtt_errors_are_retried() -> None:
    sleeps = Sleeps(stop_after=100)
    calls, session = scripted(["refused", "lost", "bug", "refused"])
    with pytest.raises(ValueError, match="a bug"):
        await reconnect_forever(session, reconnect_backoff(0.5, 4.0, sleep=sleeps))
    assert calls == ["refused", "lost", "bug"]
    assert len(sleeps.delays) == 2


class FakeClient:
    """Stands in for aiomqtt.Client's `async with`: connect refused or not."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.closed = False

    def client(self) -> aiomqtt.Client:
        return cast(aiomqtt.Client, self)

    async def __aenter__(self) -> "FakeClient":
        if self.refuse:
            raise MqttError("connection refused")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.closed = True


async def _nothing(client: aiomqtt.Client) -> None:
    pass


async def _lose(client: aiomqtt.Client) -> None:
    raise MqttError("connection lost")


async def _refuse_subscribe(client: aiomqtt.Client) -> None:
    raise MqttError("subscribe failed")


async def test_a_session_raises_until_started_then_returns_what_ended_it() -> None:
    with pytest.raises(MqttError, match="refused"):
        await serve_session(FakeClient(refuse=True).client(), _nothing, _nothing)
    with pytest.raises(MqttError, match="subscribe failed"):
        await serve_session(FakeClient().client(), _refuse_subscribe, _nothing)
    fake = FakeClient()
    ended = await serve_session(fake.client(), _nothing, _lose)
    assert str(ended) == "connection lost"
    assert fake.closed
    ended = await serve_session(FakeClient().client(), _nothing, _nothing)
    assert str(ended) == "the broker ended the session"
