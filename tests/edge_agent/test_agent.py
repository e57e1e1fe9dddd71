"""The agent's request path with a fake pipeline and a fake link: results, errors, counters."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contract import (
    CommandReply,
    ErrorMessage,
    Event,
    Health,
    InferResult,
    Status,
    Topics,
    decode,
)
from edge_agent.agent import Agent, State
from edge_agent.config import AgentConfig, parse_config
from edge_agent.messages import Inbound
from edge_agent.router import Route, Router
from tests.edge_agent.fakes import FakeLink, FakePipeline

T = Topics()
D = "dev-1"


class FakeAgent(Agent):
    def __init__(self, config: AgentConfig) -> None:
        super().__init__(config)
        self.fake_link = FakeLink()
        self.fakes = {m: FakePipeline(m) for m in config.models}

    def _load_pipelines(self) -> Any:
        return {m: [p] for m, p in self.fakes.items()}

    def _make_link(self) -> Any:
        return self.fake_link


def make_config(**overrides: Any) -> AgentConfig:
    data: dict[str, Any] = {
        "device_id": D,
        "models": ["fake-face", "fake-word"],
        "sensors": [{"topic": "cameras/+/jpeg", "model": "fake-face"}],
        "max_payload_bytes": 100,
        "queue_limit": 2,
        "health_interval_s": 60,
        "outbox": {"memory": True},
    }
    return parse_config({**data, **overrides})


@pytest.fixture
async def agent() -> AsyncIterator[FakeAgent]:
    a = FakeAgent(make_config())
    task = asyncio.create_task(a.run())
    async with asyncio.timeout(5):
        await a.wait_state(State.CONNECTING)
    a._on_connected(True)
    yield a
    for p in a.fakes.values():
        p.release.set()
    a.stop()
    await task


def send(agent: Agent, topic: str, payload: bytes) -> None:
    agent._on_message(Inbound(topic, payload, time.perf_counter()))


def by_label(agent: FakeAgent, label: str) -> list[Any]:
    return [m for m in agent.fake_link.published if m.label == label]


async def test_result_with_rid_latency_and_face_event(agent: FakeAgent) -> None:
    send(agent, T.infer(D, "fake-face", "r1"), b"face")
    published = await agent.fake_link.wait_for(2)
    result_msg, event_msg = published
    assert result_msg.topic == T.result(D, "fake-face", "r1")
    assert (result_msg.qos, result_msg.retain) == (1, False)
    result = decode(InferResult, result_msg.payload)
    assert (result.model, result.model_version, result.where, result.rid) == (
        "fake-face",
        "fake-1",
        "edge",
        "r1",
    )
    assert result.source_topic == T.infer(D, "fake-face", "r1")
    assert 0 <= result.latency_ms < 1000
    assert len(result.msg_id) == 32
    assert result.output["faces"][0]["box"] == [1, 2, 3, 4]
    assert event_msg.topic == T.event(D, "face")
    event = decode(Event, event_msg.payload)
    assert (event.kind, event.rid, event.data["count"]) == ("face", "r1", 1)
    assert event.data["result_msg_id"] == result.msg_id


async def test_no_face_no_event_and_wakeword_event(agent: FakeAgent) -> None:
    send(agent, T.infer(D, "fake-face"), b"none")
    send(agent, T.infer(D, "fake-word"), b"word")
    await agent.fake_link.wait_for(3)
    assert [m.label for m in agent.fake_link.published].count("result") == 2
    (event,) = by_label(agent, "event")
    assert event.topic == T.event(D, "wakeword")
    assert decode(Event, event.payload).data["wake_word"] == "okay_nabu"
    assert decode(InferResult, by_label(agent, "result")[0].payload).rid is None


@pytest.mark.parametrize(
    ("topic", "payload", "code"),
    [
        (T.infer(D, "fake-face", "r9"), b"bad bytes", "bad_image"),
        (T.infer(D, "fake-face"), b"boom", "internal"),
        (T.infer(D, "nope", "r9"), b"face", "unknown_model"),
        (T.infer(D, "fake-face", "r9"), b"x" * 101, "too_large"),
        (f"{T.prefix}/{D}/infer/fake-face/a/b", b"face", "bad_topic"),
        (T.cmd(D, "ping"), b"not json", "bad_command"),
        # +14:00 of year 1 is before year 1 in UTC: OverflowError once crashed the link task
        (T.cmd(D, "ping"), b'{"cmd_id": "x", "ts": "0001-01-01T00:00:00+14:00"}', "bad_command"),
    ],
)
async def test_bad_input_gets_error_and_counter_then_agent_still_serves(
    agent: FakeAgent, topic: str, payload: bytes, code: str
) -> None:
    send(agent, topic, payload)
    (error_msg,) = await agent.fake_link.wait_for(1)
    assert error_msg.topic == T.error(D)
    error = decode(ErrorMessage, error_msg.payload)
    assert (error.code.value, error.topic) == (code, topic)
    if code in {"bad_image", "unknown_model", "too_large"}:
        assert error.rid == "r9"
    assert agent.stats.counters[f"errors.{code}"] == 1
    assert agent.stats.counters["errors"] == 1

    send(agent, T.infer(D, "fake-face", "ok"), b"none")
    published = await agent.fake_link.wait_for(2)
    assert published[1].topic == T.result(D, "fake-face", "ok")


async def test_full_queue_is_overloaded(agent: FakeAgent) -> None:
    # 2 jobs handed to the worker thread (prefetch) + 2 queued (queue_limit) are accepted.
    assert agent.runner is not None
    runner = agent.runner
    send(agent, T.infer(D, "fake-face", "h0"), b"hold")
    send(agent, T.infer(D, "fake-face", "h1"), b"hold")
    assert await asyncio.to_thread(agent.fakes["fake-face"].entered.wait, 5)
    assert runner.queued() == 0
    send(agent, T.infer(D, "fake-face", "h2"), b"hold")
    send(agent, T.infer(D, "fake-face", "h3"), b"hold")
    send(agent, T.infer(D, "fake-face", "late"), b"face")
    (error_msg,) = await agent.fake_link.wait_for(1)
    error = decode(ErrorMessage, error_msg.payload)
    assert (error.code.value, error.rid) == ("overloaded", "late")
    assert runner.depth() == 4
    agent.fakes["fake-face"].release.set()
    await agent.fake_link.wait_for(5)
    assert runner.depth() == 0
    assert agent.stats.counters["published.result"] == 4


class BrokenRouter:
    """Fails on topics ending in `/boom` as an unforeseen bug would; routes the rest."""

    def __init__(self, real: Router) -> None:
        self.real = real

    def route(self, topic: str, size: int) -> Route:
        if topic.endswith("/boom"):
            raise OverflowError("date value out of range")
        return self.real.route(topic, size)


async def test_unexpected_failure_is_an_internal_error_never_a_crash(
    agent: FakeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    assert agent.router is not None
    agent.router = BrokenRouter(agent.router)  # type: ignore[assignment]
    send(agent, T.infer(D, "fake-face", "held"), b"hold")  # accepted before the failure
    assert await asyncio.to_thread(agent.fakes["fake-face"].entered.wait, 5)
    send(agent, T.infer(D, "fake-face", "boom"), b"face")  # returns: nothing escapes
    send(agent, T.cmd(D, "boom"), b"{}")
    send(agent, T.infer(D, "fake-face", "after"), b"none")
    agent.fakes["fake-face"].release.set()
    published = await agent.fake_link.wait_for(4)
    errors = [decode(ErrorMessage, m.payload) for m in published if m.label == "error"]
    assert [(e.code.value, e.topic, e.rid) for e in errors] == [
        ("internal", T.infer(D, "fake-face", "boom"), "boom"),
        ("internal", T.cmd(D, "boom"), None),
    ]
    answered = {decode(InferResult, m.payload).rid for m in published if m.label == "result"}
    assert answered == {"held", "after"}
    assert agent.stats.counters["errors.internal"] == 2
    assert "OverflowError: date value out of range" in caplog.text


async def test_sensor_topic_answers_under_own_result(agent: FakeAgent) -> None:
    send(agent, "cameras/door/jpeg", b"none")
    (msg,) = await agent.fake_link.wait_for(1)
    assert msg.topic == T.result(D, "fake-face")
    assert decode(InferResult, msg.payload).source_topic == "cameras/door/jpeg"


async def test_own_outputs_and_unrelated_topics_are_ignored(agent: FakeAgent) -> None:
    for topic in (T.result(D, "fake-face"), T.error(D), T.status(D), "other/topic"):
        send(agent, topic, b"face")
    send(agent, T.infer(D, "fake-face", "z"), b"none")
    (msg,) = await agent.fake_link.wait_for(1)
    assert msg.topic == T.result(D, "fake-face", "z")


async def test_ping_command_replies(agent: FakeAgent) -> None:
    send(agent, T.cmd(D, "ping"), json.dumps({"cmd_id": "c1"}).encode())
    send(agent, T.cmd(D, "dance"), json.dumps({"cmd_id": "c2"}).encode())
    ping, dance = await agent.fake_link.wait_for(2)
    assert ping.topic == T.cmd_reply(D, "ping")
    assert decode(CommandReply, ping.payload).ok
    reply = decode(CommandReply, dance.payload)
    assert (reply.cmd_id, reply.ok) == ("c2", False)


async def test_health_snapshot_counts(agent: FakeAgent) -> None:
    send(agent, T.infer(D, "fake-face"), b"none")
    send(agent, T.infer(D, "fake-face"), b"bad")
    await agent.fake_link.wait_for(2)
    from edge_agent.health import HealthReporter

    assert agent.runner is not None
    reporter = HealthReporter(agent.stats, agent.runner.depth, lambda b: None, 1)
    first, second = reporter.snapshot(), reporter.snapshot()
    assert isinstance(first, Health)
    assert (first.seq, second.seq) == (0, 1)
    assert first.queue_depth == 0
    assert first.infer_ms_p50 is not None
    assert first.rss_mb is not None
    assert first.rss_mb > 0
    assert first.counters["requests"] == 2
    assert first.counters["errors.bad_image"] == 1
    assert 0 <= first.cpu <= 1


async def test_stop_publishes_offline_retained() -> None:
    a = FakeAgent(make_config())
    task = asyncio.create_task(a.run())
    async with asyncio.timeout(5):
        await a.wait_state(State.CONNECTING)
    a.stop()
    await task
    assert a.state is State.STOPPED
    last = a.fake_link.closed_with
    assert last is not None
    assert (last.topic, last.qos, last.retain) == (T.status(D), 1, True)
    status = decode(Status, last.payload)
    assert (status.state, status.models) == ("offline", ["fake-face", "fake-word"])


def test_auto_workers_load_one_pipeline_per_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """`workers_per_model: auto` loads the real model once per CPU the agent may use, each a
    separate instance (a worker thread owns one)."""
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 3})
    config = parse_config(
        {"device_id": D, "models": ["engine-fault"], "workers_per_model": "auto"}
        | {"outbox": {"memory": True}}
    )
    pipelines = Agent(config)._load_pipelines()["engine-fault"]
    assert len(pipelines) == 3
    assert len({id(p) for p in pipelines}) == 3


def test_only_cascade_pipelines_compute_their_doubt() -> None:
    """A doubt head's estimate is what the cascade reads; a pipeline in another mode skips it
    (its cost: a second candidate pass per face image)."""
    import json

    from models.datasets.engine import MODES, NUMERIC, RANGES

    reading = json.dumps(
        {k: sum(RANGES[k]) / 2 for k in NUMERIC} | {"operating_mode": MODES[0]}
    ).encode()

    def doubt(mode: str) -> object:
        config = parse_config(
            {"device_id": D, "models": ["engine-fault"], "outbox": {"memory": True}}
            | {"offload": {"pipelines": {"engine-fault": {"mode": mode}}}}
        )
        (pipeline,) = Agent(config)._load_pipelines()["engine-fault"]
        return getattr(pipeline.run(reading), "doubt", None)

    assert isinstance(doubt("cascade"), float)
    assert doubt("edge") is None
    assert doubt("adaptive") is None
