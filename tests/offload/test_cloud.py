"""Circuit breaker states, EWMA, and the cloud client against an httpx mock transport."""

import httpx
import pytest

from contract import InferResult, encode
from edge_agent.cloud import (
    BreakerState,
    CircuitBreaker,
    CloudClient,
    CloudError,
    Ewma,
    WindowMin,
    latency_estimate,
    parse_server_timing,
)
from edge_agent.offload import EXPLORE_AFTER_S


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


def test_stale_ewma_is_replaced_not_blended() -> None:
    clock = Clock()
    e = Ewma(alpha=0.5, stale_after_s=2.0, clock=clock)
    e.add(40)
    clock.now = 1.0
    assert e.add(20) == 30
    assert not e.stale()
    clock.now = 3.5
    assert e.stale()
    assert e.add(2) == 2  # a measurement from a busier time says nothing about now
    assert not e.stale()


def test_a_median_filtered_ewma_ignores_one_outlier_and_follows_two() -> None:
    clock = Clock()
    e = Ewma(alpha=0.5, stale_after_s=2.0, clock=clock, median_of=3)
    assert e.add(10) == 10
    assert e.add(300) == 10  # [10, 300]: the lower median
    assert e.add(10) == 10  # [10, 300, 10]
    assert e.add(10) == 10  # [300, 10, 10]
    assert e.add(300) == 10  # [10, 10, 300]: one slow answer in three is noise
    assert e.add(300) == 155  # [10, 300, 300]: two are a trend
    clock.now = 5.0
    assert e.add(20) == 20  # stale: replaced, the window starts again
    assert e.add(400) == 20


def test_the_policys_latency_estimate_is_median_filtered_and_goes_stale() -> None:
    e = latency_estimate()
    assert (e.stale_after_s, e.add(15.0), e.add(900.0)) == (EXPLORE_AFTER_S, 15.0, 15.0)


def test_window_min() -> None:
    w = WindowMin(size=3)
    assert w.value is None
    for v in (50.0, 3.0, 40.0):
        w.add(v)
    assert w.value == 3.0
    w.add(60.0)
    w.add(45.0)  # 3.0 falls out of the window
    assert w.value == 40.0


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("total;dur=12.5, infer;dur=4", {"total": 12.5, "infer": 4.0}),
        ('total;desc="hub";dur="7.25"', {"total": 7.25}),
        ("total;dur=abc, ;dur=3, infer", {}),
        (None, {}),
    ],
)
def test_parse_server_timing(header: str | None, parsed: dict[str, float]) -> None:
    assert parse_server_timing(header) == parsed


async def test_link_floor_is_the_call_minus_server_time_not_the_inflated_call() -> None:
    """The voice rule needs the link's RTT: a call minus the hub's own time (Server-Timing), and
    the floor over recent samples, because a starved loop only ever adds to what it times."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        return httpx.Response(200, content=_result(), headers={"server-timing": "total;dur=5"})

    client = CloudClient("http://hub", "d", "s", transport=httpx.MockTransport(handler))
    answer = await client.infer("face-detect-full", b"x", "image/jpeg")
    assert answer.server_ms == 5.0
    first = client.net.value
    assert first is not None
    assert first == pytest.approx(max(0.0, answer.elapsed_ms - 5.0))
    for _ in range(3):  # calls and probes timed by a starved loop
        client.net.add(300.0)
    assert client.net.value == first  # the floor keeps the quick sample
    await client.aclose()


async def test_without_server_timing_the_call_does_not_feed_the_link_floor() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=_result()))
    client = CloudClient("http://hub", "d", "s", transport=transport)
    answer = await client.infer("m", b"x", "image/jpeg")
    assert answer.server_ms is None
    assert client.net.value is None  # the hub's share is unknown: only probes measure the link
    assert client.rtt.value == pytest.approx(answer.elapsed_ms)
    await client.aclose()


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


def test_a_closed_link_is_probed_only_when_nothing_measured_it_lately() -> None:
    """Probes cost a starved device tail latency: a closed breaker with a fresh measurement
    (a call or a probe) skips them; one not closed is probed every time (recovery)."""
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown_s=1, clock=clock)
    client = CloudClient("http://hub", "d", "s", breaker=breaker)
    client.rtt = Ewma(clock=clock)
    assert client.probe_due(16.0)  # never measured
    client.rtt.add(50.0)
    clock.now = 15.0
    assert not client.probe_due(16.0)
    clock.now = 16.0
    assert client.probe_due(16.0)
    client.rtt.add(50.0)
    breaker.failure()  # open
    assert client.probe_due(16.0)


async def test_an_idle_hub_connection_outlives_the_probe_spacing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An idle hub is probed every EXPLORE_MAX_S: the agent's pool and the hub (as `edgefleet
    hub` serves it) keep an idle connection longer, so the next offload needs no handshake."""
    import uvicorn
    from typer.testing import CliRunner

    from cloud_hub import main as hub_main
    from cloud_hub.cli import app
    from edge_agent.cloud import KEEP_ALIVE_S
    from edge_agent.offload import EXPLORE_MAX_S

    served: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda _app, **kw: served.update(kw))
    monkeypatch.setattr(hub_main, "create_app", lambda settings: None)
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 0, result.output
    assert EXPLORE_MAX_S < KEEP_ALIVE_S <= served["timeout_keep_alive"]  # type: ignore[operator]
    client = CloudClient("http://hub", "d", "s")
    pool = client._http._transport._pool  # type: ignore[attr-defined]
    assert pool._keepalive_expiry == KEEP_ALIVE_S
    await client.aclose()
