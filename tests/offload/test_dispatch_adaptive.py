"""The Dispatcher's adaptive glue against a mock hub and a real Runner (fake pipeline): the side
not in use is measured by a shadow copy of an answered request, one at a time per model, never
published; the cloud is re-measured less often the slower than the edge it last was."""

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Literal

import httpx
import pytest

from contract import InferResult, Topics, decode, encode
from edge_agent.cloud import CloudClient, Ewma
from edge_agent.config import parse_config
from edge_agent.dispatch import Dispatcher
from edge_agent.messages import Inbound, Outbound
from edge_agent.offload import EXPLORE_AFTER_S
from edge_agent.replies import Replies
from edge_agent.runner import Done, Job, Runner
from edge_agent.stats import Stats
from tests.edge_agent.fakes import FakePipeline

FACE = "face-detect-lite"  # not a voice pipeline: the voice-RTT rule stays out of the way
TOPICS = Topics()
WITHIN_S = 5.0  # bound of every wait

Failure = Literal["503", "connect"]


class Clock:
    """An injectable clock for `Ewma`."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingRunner(Runner):
    """A real Runner (one worker thread) that remembers every job it accepted, in order."""

    def __init__(
        self,
        pipeline: FakePipeline,
        replies: Replies,
        on_done: Callable[[Done], None],
        log: list[str],
    ) -> None:
        super().__init__({FACE: [pipeline]}, queue_limit=8, encode=replies.result, on_done=on_done)
        self.submitted: list[Job] = []
        self._log = log

    def submit(self, job: Job) -> None:
        super().submit(job)
        self.submitted.append(job)
        self._log.append("runner shadow" if job.shadow else f"runner {job.rid}")


class Harness:
    """A Dispatcher for one adaptive pipeline, wired like the agent: the runner's results go
    to `Dispatcher.done`, which publishes each answer unless it holds it back (a shadow run).
    The mock hub answers 200, fails (`failure`), or holds every call until `gate` is set
    (`gated`)."""

    def __init__(self, *, failure: Failure | None = None, gated: bool = False) -> None:
        config = parse_config(
            {
                "device_id": "d1",
                "models": [FACE],
                "hub": {"url": "http://hub"},
                "offload": {"pipelines": {FACE: {"mode": "adaptive"}}},
            }
        )
        self.failure = failure
        self.gate: asyncio.Event | None = asyncio.Event() if gated else None
        self.log: list[str] = []  # what happened, in order
        self.hub_calls: list[httpx.Request] = []
        self.published: list[Outbound] = []
        self.dones: list[tuple[Job, bool]] = []  # each Done's job; True: done() published nothing
        self.changed = asyncio.Event()  # set on every hub call, Done and publish
        self.cloud = CloudClient("http://hub", "d1", "s", transport=httpx.MockTransport(self._hub))
        self.replies = Replies(TOPICS, "d1", "test")
        self.stats = Stats()
        self.pipeline = FakePipeline(FACE)
        self.runner = RecordingRunner(self.pipeline, self.replies, self._on_done, self.log)
        self.dispatch = Dispatcher(
            config,
            self.runner,
            self.replies,
            self.stats,
            self._publish,
            self.cloud,
            None,
        )
        self._workers: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> "Harness":
        self._workers = [asyncio.create_task(run(), name=n) for n, run in self.runner.workers()]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.gate is not None:
            self.gate.set()
        self.pipeline.release.set()
        leftovers = [*self._workers, *self.dispatch._tasks]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
        self.runner.close()
        await self.cloud.aclose()

    # --- the device's side -------------------------------------------------------------------
    def request(self, rid: str) -> Job:
        """A face image arrives for `rid`; the dispatcher decides where it runs."""
        job = Job(FACE, rid, TOPICS.infer("d1", FACE, rid), b"face", time.perf_counter())
        self.dispatch.submit(job)
        return job

    def _on_done(self, done: Done) -> None:  # the runner's callback: Dispatcher.done, recorded
        published = len(self.published)
        self.dispatch.done(done)
        self.dones.append((done.job, len(self.published) == published))
        self.changed.set()

    def _publish(self, message: Outbound) -> None:
        self.published.append(message)
        if message.label == "result":
            result = decode(InferResult, message.payload)
            self.log.append(f"result {result.rid} {result.where}")
        self.changed.set()

    def results(self) -> list[tuple[str | None, str]]:
        """(rid, where) of every published result."""
        decoded = [decode(InferResult, m.payload) for m in self.published if m.label == "result"]
        return [(r.rid, r.where) for r in decoded]

    def counters(self) -> dict[str, int]:
        return {k: v for k, v in self.stats.snapshot().items() if k.startswith("offload.")}

    # --- the hub -----------------------------------------------------------------------------
    async def _hub(self, request: httpx.Request) -> httpx.Response:
        self.hub_calls.append(request)
        self.log.append(f"hub rid={request.url.params.get('rid')}")
        self.changed.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failure == "connect":
            raise httpx.ConnectError("hub unreachable", request=request)
        if self.failure == "503":
            return httpx.Response(503, text="busy")
        result = InferResult(
            model="face-detect-full",
            model_version="1",
            where="cloud",
            latency_ms=3.0,
            output={"faces": [], "image_size": [10, 10]},
            msg_id="m",
        )
        return httpx.Response(200, content=encode(result))

    # --- waiting, bounded --------------------------------------------------------------------
    async def until(self, condition: Callable[[], bool]) -> None:
        """Until `condition` holds (checked after every hub call, Done and publish)."""
        async with asyncio.timeout(WITHIN_S):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    async def settle(self) -> None:
        """Until every job the runner accepted is done and every dispatcher task finished."""
        async with asyncio.timeout(WITHIN_S):
            while True:
                if self.dispatch._tasks:
                    await asyncio.gather(*self.dispatch._tasks)
                elif self.runner.depth():
                    self.changed.clear()
                    await self.changed.wait()
                else:
                    return


# --- 1. start-up --------------------------------------------------------------------------------


async def test_startup_answers_from_the_edge_then_one_unpublished_cloud_shadow() -> None:
    async with Harness() as h:
        h.request("r1")
        await h.until(lambda: h.results() != [])
        await h.settle()

        assert h.results() == [("r1", "edge")]  # the shadow's answer is never published
        assert [m.label for m in h.published] == ["result", "event"]  # the edge's face
        assert len(h.hub_calls) == 1
        assert "rid" not in h.hub_calls[0].url.params  # a shadow copy, not the request
        assert h.log == ["runner r1", "result r1 edge", "hub rid=None"]  # after the answer
        cloud = h.dispatch.cloud_ms.get(FACE)
        assert cloud is not None
        assert cloud.value is not None
        edge = h.dispatch.edge_ms.get(FACE)
        assert edge is not None
        assert edge.value is not None
        assert h.counters() == {"offload.edge.explore": 1, "offload.shadow.cloud": 1}
        assert (h.dispatch.answers, h.dispatch.cloud_answers) == (1, 0)
        assert (h.dispatch._shadow_after, h.dispatch._shadowing) == ({}, set())


# --- 2. one shadow at a time -------------------------------------------------------------------


@pytest.mark.parametrize("burst", ["while_in_flight", "before_the_first_answer"])
async def test_one_cloud_shadow_at_a_time(burst: str) -> None:
    """Requests arriving while a (slow) cloud shadow is in flight, or planned and not yet
    started, are answered from the edge and start no second cloud call."""
    async with Harness(gated=True) as h:
        h.request("r0")
        if burst == "while_in_flight":
            await h.until(lambda: len(h.hub_calls) == 1)  # r0's shadow is at the (held) hub
        rids = ["r0", "r1", "r2", "r3", "r4"]
        for rid in rids[1:]:
            h.request(rid)
        await h.until(lambda: len(h.results()) == len(rids) and len(h.hub_calls) >= 1)

        # every request is answered, each shadow it asked for is spawned by now (done() does it)
        assert sorted(h.results()) == [(rid, "edge") for rid in rids]
        assert len(h.dispatch._tasks) == 1, "more than one cloud shadow in flight"
        assert h.gate is not None
        h.gate.set()
        await h.settle()
        assert len(h.hub_calls) == 1
        assert h.counters() == {"offload.edge.explore": len(rids), "offload.shadow.cloud": 1}
        assert (h.dispatch._shadow_after, h.dispatch._shadowing) == ({}, set())


# --- 3. on the cloud, the edge's numbers stale ---------------------------------------------------


async def test_on_the_cloud_a_stale_edge_is_measured_by_an_unpublished_local_shadow() -> None:
    clock = Clock()
    edge = Ewma(stale_after_s=EXPLORE_AFTER_S, clock=clock)
    edge.add(10_000.0)  # a slow edge, measured long ago
    clock.now += 10 * EXPLORE_AFTER_S
    cloud = Ewma(stale_after_s=EXPLORE_AFTER_S, clock=clock)
    cloud.add(10.0)  # a fast cloud, measured just now
    async with Harness() as h:
        h.dispatch.edge_ms[FACE] = edge
        h.dispatch.cloud_ms[FACE] = cloud
        h.request("r1")
        await h.until(lambda: h.dones != [])
        await h.settle()

        assert h.results() == [("r1", "cloud")]  # one result: the offload's, never the shadow's
        assert len(h.hub_calls) == 1
        assert h.hub_calls[0].url.params.get("rid") == "r1"
        [shadow] = h.runner.submitted  # the offloaded request itself never ran locally
        assert (shadow.model, shadow.payload, shadow.shadow, shadow.rid) == (
            FACE,
            b"face",
            True,
            None,
        )
        assert h.dones == [(shadow, True)]  # done() took it: measured, not published
        assert h.log == ["hub rid=r1", "result r1 cloud", "runner shadow"]  # after the answer
        assert edge.value is not None
        assert edge.value < 10_000.0  # the stale number was replaced by the shadow's
        assert edge.updated == clock.now
        service = h.dispatch.service_ms.get(FACE)
        assert service is not None
        assert service.value is not None
        assert h.counters() == {"offload.cloud.cloud_faster": 1, "offload.shadow.edge": 1}
        assert (h.dispatch.answers, h.dispatch.cloud_answers) == (1, 1)
        assert (h.dispatch._shadow_after, h.dispatch._shadowing) == ({}, set())


# --- 4. when the cloud is re-measured ------------------------------------------------------------

# (name, cloud EWMA ms against a 10 ms edge, its age in s, stale)
STALE = [
    ("60x the edge: not at 3 s", 600.0, 3.0, False),
    ("60x the edge: the wait stops at 16 s", 600.0, 15.9, False),
    ("60x the edge: stale at 17 s", 600.0, 17.0, True),
    ("4x the edge: 8 s", 40.0, 7.9, False),
    ("4x the edge: stale after 8 s", 40.0, 8.1, True),
    ("as fast as the edge: 2 s", 10.0, 1.9, False),
    ("as fast as the edge: stale after 2 s", 10.0, 2.1, True),
    ("faster than the edge: stale after 2 s too", 5.0, 2.1, True),
]


@pytest.mark.parametrize(
    ("cloud_ms", "age_s", "stale"), [c[1:] for c in STALE], ids=[c[0] for c in STALE]
)
async def test_cloud_staleness_stretches_with_the_cloud_edge_ratio(
    cloud_ms: float, age_s: float, stale: bool
) -> None:
    clock = Clock()
    cloud = Ewma(stale_after_s=EXPLORE_AFTER_S, clock=clock)
    cloud.add(cloud_ms)
    clock.now += age_s
    edge = Ewma(stale_after_s=EXPLORE_AFTER_S, clock=clock)
    edge.add(10.0)  # fresh
    assert Dispatcher._cloud_stale(cloud, 10.0) is stale
    async with Harness() as h:  # ... and in the signals the policy sees
        h.dispatch.edge_ms[FACE] = edge
        h.dispatch.cloud_ms[FACE] = cloud
        signals = h.dispatch.signals(FACE, h.dispatch.plans[FACE])
        assert (signals.edge_ms, signals.cloud_ms) == (10.0, cloud_ms)
        assert signals.cloud_stale is stale
        assert signals.edge_stale is False
        h.dispatch._shadowing.add(FACE)  # a shadow planned or in flight: nothing is stale
        signals = h.dispatch.signals(FACE, h.dispatch.plans[FACE])
        assert (signals.cloud_stale, signals.edge_stale) == (False, False)


def test_a_cloud_never_measured_is_stale() -> None:
    assert Dispatcher._cloud_stale(None, 10.0) is True
    assert Dispatcher._cloud_stale(Ewma(), 10.0) is True
    assert Dispatcher._cloud_stale(Ewma(), None) is True


# (name, the model's measured run alone in ms, where a saturated device sends an as-fast request)
SHEDDING = [
    ("a run worth the hop: shed to the hub", 4.0, "cloud"),
    ("a run cheaper than the hop: keep it", 0.2, "edge"),
]


@pytest.mark.parametrize(
    ("compute_ms", "where"), [c[1:] for c in SHEDDING], ids=[c[0] for c in SHEDDING]
)
async def test_a_saturated_device_sheds_only_runs_worth_the_hop(
    compute_ms: float, where: str
) -> None:
    """The model's measured run time (`service_ms`) reaches the policy: with edge and hub
    equally fast, an overloaded device sheds a costly model and keeps a 0.2 ms one (its answer
    from the hub would cross the starved device twice)."""
    clock = Clock()

    def measured(ms: float) -> Ewma:
        ewma = Ewma(stale_after_s=EXPLORE_AFTER_S, clock=clock)
        ewma.add(ms)
        return ewma

    async with Harness() as h:
        h.dispatch.load.cpu = 0.9
        h.dispatch.edge_ms[FACE], h.dispatch.cloud_ms[FACE] = measured(11.0), measured(11.0)
        h.dispatch.service_ms[FACE] = measured(compute_ms)
        assert h.dispatch.signals(FACE, h.dispatch.plans[FACE]).edge_compute_ms == compute_ms
        h.request("r1")
        await h.until(lambda: h.results() != [])
        await h.settle()

        assert h.results() == [("r1", where)]
        reason = "device_overloaded" if where == "cloud" else "edge_faster"
        assert h.counters() == {f"offload.{where}.{reason}": 1}


# --- 5. a failed offload -------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["503", "connect"])
async def test_failed_offload_falls_back_to_the_edge_leaving_no_shadow(failure: Failure) -> None:
    async with Harness(failure=failure) as h:
        h.dispatch.load.cpu = 0.9  # out of its band, nothing measured: explore on the cloud
        h.request("r1")
        await h.until(lambda: h.results() != [])
        await h.settle()

        assert h.results() == [("r1", "edge")]
        assert len(h.hub_calls) == 1  # the offload; no cloud shadow after the edge answered
        assert [(j.rid, j.shadow) for j in h.runner.submitted] == [("r1", False)]
        assert h.dones == [(h.runner.submitted[0], False)]
        assert h.log == ["hub rid=r1", "runner r1", "result r1 edge"]
        assert (h.dispatch._shadow_after, h.dispatch._shadowing) == ({}, set())
        assert h.counters() == {"offload.cloud.explore": 1, "offload.fallback": 1}
        assert FACE not in h.dispatch.cloud_ms
        edge = h.dispatch.edge_ms.get(FACE)
        assert edge is not None
        assert edge.value is not None


# --- 6. a site gateway due for measuring ---------------------------------------------------------


async def test_a_gateway_gets_its_measuring_copy_after_the_edge_answered() -> None:
    """On a saturated device the copy would compete with the answer for the CPU: it is sent
    once the request is answered, as the hub's shadow is (docs/offload.md)."""
    from contract import Health, Peer
    from contract.health import DeviceState
    from edge_agent.peer_config import PeersConfig
    from edge_agent.peers import Peers

    async with Harness() as h:

        def send(message: Outbound) -> None:
            h.log.append(f"gateway {message.topic.split('/')[-2]}")
            h.changed.set()

        peers = Peers(PeersConfig(timeout_s=0.05), TOPICS, "d1", send, lambda _: None)
        peers.update([Peer(device_id="gw", models=[FACE], workers=1, state=DeviceState.ONLINE)])
        beat = Health(cpu=0.1, mem=0.1, queue_depth=0, uptime_s=1, seq=1)
        peers.take(Inbound(TOPICS.health("gw"), encode(beat), time.perf_counter()))
        h.dispatch.peers = peers
        h.dispatch.edge_ms[FACE] = Ewma(stale_after_s=EXPLORE_AFTER_S)
        h.dispatch.edge_ms[FACE].add(1.0)  # the edge is measured and fast: it answers
        h.dispatch.cloud_ms[FACE] = Ewma(stale_after_s=EXPLORE_AFTER_S)
        h.dispatch.cloud_ms[FACE].add(500.0)

        h.request("r1")
        await h.until(lambda: any(line.startswith("gateway") for line in h.log))
        await h.settle()

        assert h.results() == [("r1", "edge")]
        assert h.log[:3] == ["runner r1", "result r1 edge", f"gateway {FACE}"]
        assert h.counters()["offload.shadow.gateway"] == 1
        assert h.dispatch._explore_after == {}
