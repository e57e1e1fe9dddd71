"""Twin end to end on both brokers: hub API -> retained desired -> agent -> reported -> hub.

A desired change made while the device is offline is applied after it reconnects; edits made
concurrently on both sides (device offline) are detected by the agent and recorded by the hub.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from cloud_hub.core.config import Settings
from edge_agent.agent import Agent, State
from edge_agent.config import AgentConfig, parse_config
from edge_agent.twin import DeviceTwin, Knob
from tests.edge_agent.fakes import FakePipeline
from tests.fixtures.brokers import BrokerProcess
from tests.hub.conftest import Hub, running_hub

D = "cam-1"
TIMEOUT = 15.0


class TwinAgent(Agent):
    """A real agent (real MQTT link) with fake pipelines and a twin kept in `path`."""

    def __init__(self, config: AgentConfig, path: Path) -> None:
        super().__init__(config)
        self.path = path

    def _load_pipelines(self) -> Any:
        pipeline = FakePipeline("fake-face")
        pipeline.min_score = 0.5  # type: ignore[attr-defined]
        return {"fake-face": [pipeline]}

    def _make_twin(self, knobs: dict[str, Knob]) -> DeviceTwin:
        return DeviceTwin(self.device, knobs, self.path)


@pytest.fixture
async def hub(make_settings: Callable[..., Settings], broker: BrokerProcess) -> AsyncIterator[Hub]:
    settings = make_settings(
        mqtt_enabled=True, mqtt_port=broker.port, mqtt_username=None, ingest_flush_s=0.02
    )
    async for h in running_hub(settings):
        await asyncio.wait_for(h.app.state.bridge.connected.wait(), TIMEOUT)
        yield h


async def start_agent(broker: BrokerProcess, path: Path) -> tuple[TwinAgent, asyncio.Task[None]]:
    config = parse_config(
        {
            "device_id": D,
            "models": ["fake-face"],
            "health_interval_s": 60,
            "outbox": {"memory": True},
            "broker": {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.1},
        }
    )
    agent = TwinAgent(config, path)
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.wait_state(State.RUNNING), TIMEOUT)
    return agent, task


async def stop_agent(agent: TwinAgent, task: asyncio.Task[None]) -> None:
    agent.stop()
    await asyncio.wait_for(task, TIMEOUT)


async def desired_view(hub: Hub, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll the hub's twin view until `until` holds (bounded)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            r = await hub.client.get(f"/api/v1/devices/{D}/twin/desired", headers=hub.admin)
            assert r.status_code == 200, r.text
            view: dict[str, Any] = r.json()
            if until(view):
                return view
            await asyncio.sleep(0.05)


async def put(hub: Hub, state: dict[str, Any], **extra: Any) -> dict[str, Any]:
    r = await hub.client.put(
        f"/api/v1/devices/{D}/twin/desired", headers=hub.admin, json={"state": state, **extra}
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_offline_change_applied_after_reconnect_and_concurrent_edit_detected(
    hub: Hub, broker: BrokerProcess, tmp_path: Path
) -> None:
    await hub.enroll(D)
    path = tmp_path / "twin.json"
    agent, task = await start_agent(broker, path)
    first = await put(hub, {"health_interval_s": 7})
    assert first["published"] is True
    assert first["version"] == {"hub": 1}
    await desired_view(hub, lambda v: v["sync"] == "in_sync")
    await stop_agent(agent, task)

    # offline: the hub changes the desired state; the device gets it when it is back
    second = await put(
        hub,
        {"health_interval_s": 9, "pipelines.fake-face.min_score": 0.7, "bogus": 1},
        base_version=first["version"],
    )
    stale = await hub.client.put(
        f"/api/v1/devices/{D}/twin/desired",
        headers=hub.admin,
        json={"state": {}, "base_version": first["version"]},
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["detail"] == {
        "base_version": first["version"],
        "current_version": second["version"],
    }
    agent, task = await start_agent(broker, path)
    view = await desired_view(hub, lambda v: v["reported_version"] == second["version"])
    assert agent.twin is not None
    assert agent.twin.state()["health_interval_s"] == 9.0
    assert agent.runner is not None
    assert agent.runner.pipelines["fake-face"][0].min_score == 0.7  # type: ignore[attr-defined]
    assert view["sync"] == "drift"  # `bogus` was rejected
    assert "bogus" in view["rejected"]
    await stop_agent(agent, task)

    # concurrent: offline, the device edits locally and the hub edits the same key
    offline = DeviceTwin(D, {"health_interval_s": Knob(float, lambda v: None, lambda: 9.0)}, path)
    offline.set_local("health_interval_s", 3)
    third = await put(hub, {"health_interval_s": 12})
    agent, task = await start_agent(broker, path)
    try:
        view = await desired_view(hub, lambda v: bool(v["conflicts"]))
        conflict = view["conflicts"][-1]
        assert conflict["source"] == "device"
        assert conflict["keys"][0]["key"] == "health_interval_s"
        assert conflict["keys"][0]["desired"] == 12
        assert conflict["keys"][0]["local"] == 3
        assert agent.twin is not None
        assert agent.twin.state()["health_interval_s"] == 12.0
        assert agent.twin.version[D] == 1
        assert agent.twin.version["hub"] == third["version"]["hub"]
    finally:
        await stop_agent(agent, task)
