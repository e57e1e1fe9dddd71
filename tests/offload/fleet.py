"""A small fleet for end-to-end outbox/offload tests: broker, hub and agent processes, a request
driver and a reader of the hub's SQLite database."""

import itertools
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
from skimage import data

from contract import Topics
from edgefleet.procs import AgentProcess, HubProcess, agent_config
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe

T = Topics()
FACE = "face-detect-lite"


def jpeg(scale: float = 0.25) -> bytes:
    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    img = cv2.resize(img, None, fx=scale, fy=scale)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf.tobytes())


def rid(seq: int) -> str:
    return f"r{seq:06d}"


@dataclass
class Driver:
    """Publishes one request per device every `period_s` from a thread, bounded in count."""

    probe: MqttProbe
    devices: list[str]
    period_s: float = 0.1
    max_requests: int = 2000
    payload: bytes = field(default_factory=jpeg)
    sent: dict[str, list[str]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _paused: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _tick: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.sent = {d: [] for d in self.devices}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seq, next_at = 0, time.monotonic()
        while not self._stop.is_set() and seq < self.max_requests:
            with self._tick:
                if not self._paused.is_set():
                    for d in self.devices:
                        self.probe.publish(T.infer(d, FACE, rid(seq)), self.payload)
                        self.sent[d].append(rid(seq))
                    seq += 1
            next_at += self.period_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def pause(self, paused: bool) -> None:
        """Pause (returns once the current tick is over) or resume."""
        with self._tick:
            (self._paused.set if paused else self._paused.clear)()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def total(self) -> int:
        return sum(len(v) for v in self.sent.values())


def hub_results(db: Path | str) -> dict[str, list[tuple[int, str, str]]]:
    """device -> [(row id, rid, msg_id)] in insertion order, read from the hub's SQLite file
    or from a database URL (PostgreSQL)."""
    query = "SELECT id, device_id, rid, msg_id FROM results ORDER BY id"
    if isinstance(db, str):
        from sqlalchemy import create_engine, text

        engine = create_engine(db)
        try:
            with engine.connect() as conn:
                rows = [tuple(row) for row in conn.execute(text(query))]
        finally:
            engine.dispose()
    else:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            rows = con.execute(query).fetchall()
        finally:
            con.close()
    out: dict[str, list[tuple[int, str, str]]] = {}
    for row_id, device, r, msg_id in rows:
        out.setdefault(device, []).append((row_id, r, msg_id))
    return out


def wait_results(
    db: Path | str, expected: dict[str, list[str]], stall_s: float, cap_s: float = 120.0
) -> dict[str, list[str]]:
    """Poll the hub database until every expected rid is stored; return the rids found.

    Gives up only when no new result arrived for `stall_s` (or after `cap_s` in all): a
    backlog that drains slowly on a loaded machine is not a loss, one that stops draining is.
    """
    deadline, stalled_at, count = time.monotonic() + cap_s, time.monotonic() + stall_s, -1
    while True:
        found = {d: [r for _, r, _ in rows] for d, rows in hub_results(db).items()}
        if all(set(expected[d]) <= set(found.get(d, [])) for d in expected):
            return found
        now, total = time.monotonic(), sum(map(len, found.values()))
        if total != count:
            count, stalled_at = total, now + stall_s
        if now > stalled_at or now > deadline:
            return found
        time.sleep(0.25)


def outbox_pending(agents: list[AgentProcess]) -> dict[str, int]:
    """Messages still held in each agent's durable outbox (read-only look at its SQLite)."""
    pending = {}
    for agent in agents:
        path = agent.state_dir / f"outbox-{agent.device}.sqlite"
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            pending[agent.device] = int(con.execute("SELECT count(*) FROM outbox").fetchone()[0])
        finally:
            con.close()
    return pending


@dataclass
class Fleet:
    broker: BrokerProcess
    hub: HubProcess
    agents: list[AgentProcess]
    probe: MqttProbe

    @property
    def devices(self) -> list[str]:
        return [a.device for a in self.agents]

    def wait_online(self, timeout: float = 30.0) -> None:
        for a in self.agents:
            self.probe.wait_for(
                lambda m, d=a.device: m.topic == T.status(d) and b'"online"' in m.payload,
                timeout,
            )


def start_agents(fleet: Fleet, workdir: Path, configs: list[dict[str, Any]]) -> Fleet:
    """Start an agent process per config into `fleet.agents` (its caller stops them) and wait
    until each is online; a failure shows the agents' logs."""
    for cfg in configs:
        agent = AgentProcess(workdir / "agents", cfg)
        agent.start()
        fleet.agents.append(agent)
    try:
        fleet.wait_online()
    except AssertionError:
        raise AssertionError("\n".join(a.log_tail() for a in fleet.agents)) from None
    return fleet


@contextmanager
def running_fleet(
    workdir: Path,
    broker: BrokerProcess,
    n: int,
    hub_models: tuple[str, ...] = (),
    **agent_extra: object,
) -> Iterator[Fleet]:
    """`n` agents and a hub serving its default cloud models and `hub_models`."""
    hub = HubProcess(workdir / "hub", broker.port)
    hub.cloud_models = (*hub.cloud_models, *hub_models)
    hub.start()
    agents: list[AgentProcess] = []
    probe = MqttProbe(broker.host, broker.port).connect()
    try:
        probe.subscribe(T.filter_all() if hasattr(T, "filter_all") else "edgefleet/v1/#")
        configs = []
        for i in range(n):
            device = f"fleet-{i}"
            secret = hub.create_device(device)
            configs.append(
                agent_config(device, broker.port, secret=secret, hub_url=hub.url, **agent_extra)
            )
        yield start_agents(Fleet(broker, hub, agents, probe), workdir, configs)
    finally:
        for a in agents:
            a.stop()
        hub.terminate()
        probe.close()


def in_order(rids: list[str]) -> bool:
    return all(a < b for a, b in itertools.pairwise(rids))
