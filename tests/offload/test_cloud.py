"""Circuit breaker states, EWMA, and the cloud client against an httpx mock transport."""

import httpx
import pytest

from broker.contract import InferResult, encode
from edge_agent.cloud import BreakerState, CircuitBreaker, CloudClient, CloudError, Ewma


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_half_opens_and_closes() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=2, cooldown_s=5, clock=clock)
    assert b.acquire()
    b.failure()
    assert b.state is BreakerState.CLOSED
    assert b.available()
    b.failure()
    assert b.state is BreakerState.OPEN
    assert not b.available()
    clock.now = 4.9
    assert not b.acquire()
    clock.now = 5.0
    assert b.acquire()  # the half-open trial
    assert b.state is BreakerState.HALF_OPEN
    assert not b.acquire()  # one trial at a time
    b.failure()
    assert b.state is BreakerState.OPEN
    clock.now = 10.0
    assert b.acquire()
    b.success()
    assert b.state is BreakerState.CLOSED
    assert b.acquire()


def test_ewma() -> None:
    e = Ewma(alpha=0.5)
    assert e.value is None
    assert e.add(10) == 10
    assert e.add(20) == 15


def _result() -> bytes:
    return encode(InferResult(model="face-detect-full", model_version="1", where="cloud",
                              latency_ms=3.0, output={"faces": []}, msg_id="m"))  # fmt: skip


async def test_client_sends_basic_auth_and_tracks_cost() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=_result())

    client = CloudClient("http://hub", "cam-1", "s3cret", transport=httpx.MockTransport(handler))
    answer = await client.infer("face-detect-full", b"jpeg", "image/jpeg", rid="r1")
    await client.aclose()
    assert answer.result.where == "cloud"
    request = seen[0]
    assert request.url.path == "/api/v1/infer/face-detect-full"
    assert request.url.params["rid"] == "r1"
    assert request.headers["authorization"].startswith("Basic ")
    assert request.headers["content-type"] == "image/jpeg"
    assert client.cost_ms("face-detect-full") is not None
    assert client.rtt.value is not None
    assert client.sent_bytes == 4


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (500, True), (422, False)])
async def test_client_errors(status: int, retryable: bool) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(status, json={"error": {}}))
    client = CloudClient("http://hub", "cam-1", "s", transport=transport,
                         breaker=CircuitBreaker(failures=1))  # fmt: skip
    with pytest.raises(CloudError) as info:
        await client.infer("m", b"x", "image/jpeg")
    await client.aclose()
    assert info.value.retryable is retryable
    assert client.available() is (not retryable)


async def test_unreachable_hub_opens_breaker_and_probe_recovers() -> None:
    up = False

    def handler(request: httpx.Request) -> httpx.Response:
        if not up:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json={"status": "ok"})

    clock = Clock()
    breaker = CircuitBreaker(failures=2, cooldown_s=1, clock=clock)
    client = CloudClient("http://hub", "d", "s", transport=httpx.MockTransport(handler),
                         breaker=breaker)  # fmt: skip
    for _ in range(2):
        with pytest.raises(CloudError):
            await client.infer("m", b"x", "image/jpeg")
    assert not client.available()
    assert await client.probe() is None  # still cooling down: no call made
    up, clock.now = True, 1.0
    assert await client.probe() is not None
    assert client.available()
    assert breaker.state is BreakerState.CLOSED
    await client.aclose()
