"""Site gateways on the device: the remote scheduler's score, the gateway directory (status,
health, staleness, breaker) and requests to a gateway answered, refused, timed out or dropped.

Logic only, with a fake clock and captured publishes; the processes and the broker are in
tests/e2e/test_gateway_e2e.py, the broker rights in tests/broker/test_peer_rights.py."""

import asyncio
import time

import pytest

from contract import (
    ErrorCode,
    ErrorMessage,
    Health,
    InferResult,
    Peer,
    Status,
    Topics,
    encode,
)
from contract.health import DeviceState
from edge_agent.errors import PeerError
from edge_agent.messages import Inbound, Outbound
from edge_agent.offload import (
    CLOUD_TARGET,
    EXPLORE_AFTER_S,
    EXPLORE_MAX_S,
    Remote,
    Signals,
    Thresholds,
    Weights,
    Where,
    adaptive,
    best_remote,
)
from edge_agent.peer_config import PeersConfig
from edge_agent.peers import Peers
from edge_agent.targets import Asking, best_target

T = Topics()
W = Weights()
FULL = "face-detect-full"
LITE = "face-detect-lite"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def health(queue: int = 0, latency: dict[str, float] | None = None) -> bytes:
    return encode(
        Health(cpu=0.9, mem=0.5, queue_depth=queue, uptime_s=1, seq=1, latency_ms=latency or {})
    )


def status(state: DeviceState) -> bytes:
    return encode(Status(state=state, agent_version="0.1.0"))  # type: ignore[arg-type]


def inbound(topic: str, payload: bytes) -> Inbound:
    return Inbound(topic, payload, time.perf_counter())


class Site:
    """A device `dev-a` with the directory of its site's gateways, publishes captured."""

    def __init__(self, **config: object) -> None:
        self.clock = Clock()
        self.sent: list[Outbound] = []
        self.subscribed: list[str] = []
        self.peers = Peers(
            PeersConfig.model_validate(config),
            T,
            "dev-a",
            self.sent.append,
            self.subscribed.extend,
            clock=self.clock,
        )

    def gateway(self, name: str = "gw-1", models: tuple[str, ...] = (FULL,), **h: object) -> None:
        known = [(p.device_id, list(p.models)) for p in self.peers.peers.values()]
        listed = [
            Peer(device_id=d, models=m, workers=1, state=DeviceState.ONLINE)
            for d, m in [*known, (name, list(models))]
        ]
        self.peers.update(listed)
        self.peers.take(inbound(T.health(name), health(**h)))  # type: ignore[arg-type]


# --- the score ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("remotes", "best"),
    [
        ([], None),
        ([Remote("gw", 20.0), Remote(CLOUD_TARGET, 120.0)], "gw"),  # latency decides
        ([Remote("gw", 130.0), Remote(CLOUD_TARGET, 120.0)], CLOUD_TARGET),
        # a gateway with a backlog loses to a hub slightly slower
        ([Remote("gw", 100.0, load=1.0), Remote(CLOUD_TARGET, 120.0)], CLOUD_TARGET),
        # the hub's bigger model is worth some latency; not a lot
        ([Remote("gw", 110.0, quality=0.5), Remote(CLOUD_TARGET, 120.0)], CLOUD_TARGET),
        ([Remote("gw", 20.0, quality=0.5), Remote(CLOUD_TARGET, 120.0)], "gw"),
        # never measured: scored as the fastest, so it is tried; a tie keeps the first (gateways)
        ([Remote("gw", None), Remote(CLOUD_TARGET, 20.0)], "gw"),
        ([Remote("gw-1", 50.0), Remote("gw-2", 40.0)], "gw-2"),
    ],
)
def test_best_remote_by_weighted_score(remotes: list[Remote], best: str | None) -> None:
    chosen = best_remote(remotes, W)
    assert (chosen.name if chosen else None) == best


def test_weights_only_latency_ignores_load_and_quality() -> None:
    only_latency = Weights(latency=1.0, load=0.0, quality=0.0)
    remotes = [Remote("gw", 100.0, load=1.0, quality=0.1), Remote(CLOUD_TARGET, 101.0)]
    assert best_remote(remotes, only_latency) == remotes[0]


# --- the directory --------------------------------------------------------------------------
def test_a_listed_gateway_is_watched_and_available_while_its_heartbeat_is_fresh() -> None:
    site = Site(stale_s=3.0)
    site.gateway()
    assert site.subscribed == [T.status("gw-1"), T.health("gw-1")]
    assert [r.name for _, r in site.peers.remotes(FULL)] == ["gw-1"]
    assert site.peers.remotes(LITE) == []  # it does not offer the light model
    site.clock.now += 3.1  # no heartbeat for a probe period: dropped from the choice
    assert site.peers.remotes(FULL) == []
    site.peers.take(inbound(T.health("gw-1"), health()))
    assert len(site.peers.remotes(FULL)) == 1


def test_offline_status_drops_a_gateway_and_the_hub_list_is_the_membership() -> None:
    site = Site()
    site.gateway()
    site.peers.take(inbound(T.status("gw-1"), status(DeviceState.OFFLINE)))
    assert site.peers.remotes(FULL) == []
    site.peers.take(inbound(T.status("gw-1"), status(DeviceState.ONLINE)))
    assert len(site.peers.remotes(FULL)) == 1
    site.peers.update([])  # no longer listed by the hub
    assert site.peers.peers == {}


def test_a_device_never_lists_itself_and_ignores_bad_heartbeats() -> None:
    site = Site()
    site.peers.update([Peer(device_id="dev-a", models=[FULL], workers=1, state="online")])
    assert site.peers.peers == {}
    site.gateway()
    assert site.peers.take(inbound(T.health("gw-1"), b"not json")) is True  # handled, ignored
    assert site.peers.take(inbound(T.health("gw-9"), health())) is False  # not a gateway


def test_load_is_the_backlog_beyond_its_workers() -> None:
    site = Site()
    site.gateway(queue=1)  # one request running on its one worker: not loaded
    assert site.peers.remotes(FULL)[0][1].load == 0.0
    site.peers.take(inbound(T.health("gw-1"), health(queue=3)))
    assert site.peers.remotes(FULL)[0][1].load == 1.0


# --- requests -------------------------------------------------------------------------------
def _result(model: str = FULL) -> bytes:
    return encode(
        InferResult(
            model=model, model_version="1", where="edge", latency_ms=3, output={}, msg_id="m1"
        )
    )


async def _ask(
    site: Site, answer: bytes | None, status_offline: bool = False, after_ms: float = 0.0
) -> InferResult:
    """Ask gw-1 and answer with `answer` (None: no answer) `after_ms` later on the site's clock."""
    peer = site.peers.peers["gw-1"]
    task = asyncio.ensure_future(site.peers.infer(peer, FULL, b"jpeg"))
    await asyncio.sleep(0)  # the request is published
    request = site.sent[-1]
    assert request.topic.startswith(T.infer("gw-1", FULL, "x")[:-1])
    assert request.response_topic is not None
    assert request.response_topic.startswith(T.reply("dev-a", "x")[:-1])
    site.clock.now += after_ms / 1000.0
    if answer is not None:
        site.peers.take(inbound(request.response_topic, answer))
    if status_offline:
        site.peers.take(inbound(T.status("gw-1"), status(DeviceState.OFFLINE)))
    return await task


async def test_a_reply_answers_the_request_and_measures_the_gateway() -> None:
    site = Site()
    site.gateway()
    result = await _ask(site, _result())
    assert result.model == FULL
    measured = site.peers.remotes(FULL)[0][1].expected_ms
    assert measured is not None


async def test_one_slow_gateway_answer_does_not_send_a_saturated_devices_traffic_home() -> None:
    """A gateway ~15 ms away and a starved edge at 50 ms: one answer delayed to 300 ms (a
    scheduling hiccup) leaves the traffic on the gateway; a second slow one moves it."""
    site = Site(stale_s=1000.0)
    site.gateway()

    def where() -> Where:
        gateway_ms = site.peers.remotes(FULL)[0][1].expected_ms
        seen = Signals(cpu=1.0, edge_ms=50.0, cloud_ms=gateway_ms, cloud_available=True)
        return adaptive(seen, Thresholds(), Where.CLOUD).where

    for ms in (15.0, 15.0, 15.0, 300.0):
        await _ask(site, _result(), after_ms=ms)
    assert where() is Where.CLOUD
    await _ask(site, _result(), after_ms=300.0)
    assert where() is Where.EDGE


async def test_a_refusal_fails_the_request_and_counts_against_the_breaker() -> None:
    site = Site(breaker_failures=1)
    site.gateway()
    refusal = encode(ErrorMessage(topic="t", code=ErrorCode.OVERLOADED, error="full"))
    with pytest.raises(PeerError, match="overloaded"):
        await _ask(site, refusal)
    assert site.peers.remotes(FULL) == []  # breaker open


async def test_a_gateway_going_offline_fails_its_requests_in_flight_at_once() -> None:
    site = Site(timeout_s=30.0)
    site.gateway()
    started = time.perf_counter()
    with pytest.raises(PeerError, match="offline"):
        await _ask(site, None, status_offline=True)
    assert time.perf_counter() - started < 5.0  # not the 30 s timeout


async def test_no_answer_within_the_timeout_fails_the_request() -> None:
    site = Site(timeout_s=0.05)
    site.gateway()
    with pytest.raises(PeerError, match="no answer"):
        await _ask(site, None)
    assert site.peers.failed == 1


async def test_a_late_reply_after_the_timeout_is_ignored() -> None:
    site = Site(timeout_s=0.05)
    site.gateway()
    with pytest.raises(PeerError):
        await _ask(site, None)
    site.peers.take(inbound(site.sent[-1].response_topic or "", _result()))  # nothing to answer


async def test_a_gateway_is_measured_again_by_a_copy_once_its_measurement_is_due() -> None:
    site = Site(stale_s=1000.0)
    site.gateway(latency={FULL: 40.0})
    peer = site.peers.peers["gw-1"]
    from edge_agent.cloud import Ewma

    peer.latency[FULL] = Ewma(stale_after_s=EXPLORE_AFTER_S, clock=site.clock)
    peer.latency[FULL].add(1500.0)  # one slow answer: 10 x the edge's 150 ms
    assert site.peers.remotes(FULL)[0][1].expected_ms == 1500.0
    assert site.peers.explore((FULL,), b"jpeg", edge_ms=150.0) is None  # just measured
    site.clock.now += EXPLORE_AFTER_S + 0.1
    assert site.peers.explore((FULL,), b"jpeg", edge_ms=150.0) is None  # far slower: waits
    site.clock.now += EXPLORE_MAX_S
    copy = site.peers.explore((FULL,), b"jpeg", edge_ms=150.0)
    assert copy is not None
    assert site.peers.explore((FULL,), b"jpeg", edge_ms=150.0) is None  # one at a time
    task = asyncio.ensure_future(copy)
    await asyncio.sleep(0)
    request = site.sent[-1]
    assert request.response_topic is not None
    site.peers.take(inbound(request.response_topic, _result()))
    await task
    assert site.peers.remotes(FULL)[0][1].expected_ms != 1500.0  # replaced: it was stale
    assert not peer.exploring


# --- which remote ---------------------------------------------------------------------------
def test_best_target_prefers_a_gateway_with_the_full_model_and_falls_back_to_the_hub() -> None:
    site = Site()
    site.gateway(latency={FULL: 30.0})
    asking = Asking(LITE, FULL, edge_ms=300.0, cloud_ms=150.0)
    target = best_target(asking, site.peers, True, W, {})
    assert target is not None
    assert (target.remote.name, target.model) == ("gw-1", FULL)
    site.peers.take(inbound(T.status("gw-1"), status(DeviceState.OFFLINE)))
    target = best_target(asking, site.peers, True, W, {})
    assert target is not None
    assert (target.remote.name, target.model, target.peer) == (CLOUD_TARGET, FULL, None)
    assert best_target(asking, site.peers, False, W, {}) is None  # the hub is down too


def test_a_second_opinion_is_asked_only_of_a_gateway_with_the_full_model() -> None:
    site = Site()
    site.gateway(models=(LITE,), latency={LITE: 5.0})
    plain = Asking(LITE, FULL, edge_ms=300.0, cloud_ms=150.0)
    target = best_target(plain, site.peers, True, W, {})
    assert target is not None
    assert (target.remote.name, target.model) == ("gw-1", LITE)
    second = Asking(LITE, FULL, edge_ms=300.0, cloud_ms=150.0, second_opinion=True)
    target = best_target(second, site.peers, True, W, {})
    assert target is not None
    assert target.remote.name == CLOUD_TARGET


# --- the gateway's side: how it answers a device of its site --------------------------------
def test_a_gateway_answers_a_peer_on_its_reply_topic_only_and_copies_refusals_there() -> None:
    from edge_agent.errors import Rejected
    from edge_agent.replies import Replies
    from edge_agent.runner import Job

    replies = Replies(T, "gw-1", "0.1.0")
    reply = T.reply("dev-a", "r7")
    job = Job(FULL, "r7", T.infer("gw-1", FULL, "r7"), b"jpeg", 0.0, reply, b"r7")
    job.peer_request = replies.for_peer(reply)  # as the dispatcher sets it on arrival
    result = InferResult(
        model=FULL, model_version="1", where="edge", latency_ms=3, output={"faces": [{"score": 0.9,
        "box": [0, 0, 1, 1]}]}, msg_id="m1", rid="r7"
    )  # fmt: skip
    assert replies.for_peer(reply)
    assert not replies.for_peer("someone/else/reply/r7")  # an MQTT 5 client's own topic
    assert not replies.for_peer(None)
    # no result, event or outbox entry of its own: the asking device publishes the result
    assert [(m.topic, m.correlation) for m in replies.messages(job, result)] == [(reply, b"r7")]
    copy = replies.error_reply(job, Rejected(ErrorCode.OVERLOADED, "queue full", "r7"))
    assert copy is not None
    assert (copy.topic, copy.correlation) == (reply, b"r7")
    # a plain request (no response topic) gets its error on the error topic only
    plain = Job(FULL, "r8", T.infer("gw-1", FULL, "r8"), b"jpeg", 0.0)
    assert replies.error_reply(plain, Rejected(ErrorCode.OVERLOADED, "full", "r8")) is None
