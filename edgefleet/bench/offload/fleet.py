"""The offload bench's processes: hub, one agent per mode pinned to the "device" CPU, a delay
proxy per cloud-using agent; and the scenarios that load the device or the network. The
`gateway` scenario has its own fleet (`gateway_fleet`): the same, in one site with a gateway."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgefleet.bench.client import Client
from edgefleet.bench.offload.config import (
    CLOUD_MODELS,
    EDGE_MODELS,
    ENGINE,
    GATEWAY,
    GATEWAY_MODELS,
    VISION,
    VOICE,
    CascadeBands,
    OffloadBenchConfig,
)
from edgefleet.procs.agent import AgentProcess, agent_config
from edgefleet.procs.delay import DelayProxy
from edgefleet.procs.hub import HubProcess
from edgefleet.procs.process import cpu_seconds
from edgefleet.procs.stress import cpu_stress

ONLINE_TIMEOUT_S = 60.0


def split_cpus() -> tuple[set[int], set[int] | None]:
    """(the device's CPU, the rest for hub/broker/bench) - the idlest CPU for the device."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    if len(cpus) < 2:
        return {cpus[0]}, None
    import psutil

    per_cpu = psutil.cpu_percent(interval=0.3, percpu=True)
    device = min(cpus, key=lambda c: per_cpu[c] if c < len(per_cpu) else 100.0)
    return {device}, set(cpus) - {device}


def agent_offload_config(
    mode: str,
    bands: CascadeBands | None = None,
    probe_interval_s: float | None = None,
    same_model: bool = False,
) -> dict[str, Any]:
    """The offload sections of a device's config; `same_model` (the gateway scenario): the
    pipelines are GATEWAY_MODELS', each offloading to the same model."""
    pipelines: dict[str, dict[str, Any]]
    if same_model or bands is None:  # cascade is not measured in the gateway scenario
        bands = CascadeBands()
    if same_model:
        pipelines = {m: {"mode": mode, "cloud_model": m} for m in GATEWAY_MODELS.values()}
    else:
        pipelines = {m: {"mode": mode} for m in EDGE_MODELS.values()}
    for data, band in ((VISION, bands.face), (ENGINE, bands.engine), (VOICE, bands.voice)):
        if band is not None:
            pipelines[EDGE_MODELS[data]]["uncertain"] = list(band)
    if bands.voice is not None:
        pipelines[EDGE_MODELS[VOICE]]["rescue_words"] = []
    offload: dict[str, Any] = {
        "pipelines": pipelines,
        "breaker_failures": 2,
        "breaker_cooldown_s": 2.0,
        "timeout_s": 2.0,
    }
    if probe_interval_s is not None:
        offload["probe_interval_s"] = probe_interval_s
    return {
        "offload": offload,
        # the bench measures answers, not delivery to the hub: no hub acks (the hub is killed
        # in the last scenario), in memory
        "outbox": {"ack": "puback", "memory": True},
    }


@dataclass
class OffloadFleet:
    hub: HubProcess
    agents: dict[str, AgentProcess]  # by mode
    proxies: dict[str, DelayProxy]  # by mode; edge-only has none
    client: Client
    device_cpus: set[int]
    gateway: AgentProcess | None = None  # `gateway_fleet`: the site's gateway (not a mode)
    models: dict[str, str] = field(default_factory=lambda: dict(EDGE_MODELS))  # asked, by kind

    @property
    def devices(self) -> dict[str, str]:
        return {m: a.device for m, a in self.agents.items()}

    def cpu_seconds(self) -> dict[str, float]:
        """Each mode's agent process: user + system CPU time so far (the device's energy)."""
        return {m: cpu_seconds(a.proc.pid) for m, a in self.agents.items() if a.proc is not None}


@contextlib.contextmanager
def offload_fleet(
    work: Path,
    port: int,
    cfg: OffloadBenchConfig,
    modes: Sequence[str],
    cpus: tuple[set[int], set[int] | None],
) -> Iterator[OffloadFleet]:
    """Hub, proxies and agents started, every agent online; all stopped after the block."""
    device_cpus, other_cpus = cpus
    with contextlib.ExitStack() as stack:
        hub = HubProcess(
            work / "hub", port, cloud_models=tuple(CLOUD_MODELS.values()), cpus=other_cpus
        )
        stack.callback(hub.terminate)
        hub.start()
        proxies: dict[str, DelayProxy] = {}
        agents: dict[str, AgentProcess] = {}
        for mode in modes:
            device = f"bench-{mode}"
            secret = hub.create_device(device)
            hub_url = None
            if mode != "edge":
                proxies[mode] = stack.enter_context(DelayProxy(hub.port))
                hub_url = f"http://127.0.0.1:{proxies[mode].port}"
            config = agent_config(
                device,
                port,
                secret=secret,
                hub_url=hub_url,
                models=tuple(EDGE_MODELS.values()),
                **agent_offload_config(mode, cfg.bands, cfg.probe_interval_s),
            )
            # the agent's own heartbeat period (5 s), like its probe period: background work
            # at faster rates shows in the p99 of a 5 ms answer (docs/benchmarks.md)
            config.pop("health_interval_s", None)
            agents[mode] = AgentProcess(work / "agents", config, cpus=device_cpus)
            agents[mode].start()
            stack.callback(agents[mode].stop)
        client = Client(port, "bench-offload")
        stack.callback(client.close)
        deadline = time.monotonic() + ONLINE_TIMEOUT_S
        for agent in agents.values():
            if not client.online(agent.device, max(0.1, deadline - time.monotonic())):
                raise RuntimeError(f"agent {agent.device} not online:\n{agent.log_tail()}")
        yield OffloadFleet(hub, agents, proxies, client, device_cpus)


@contextlib.contextmanager
def scenario(name: str, cfg: OffloadBenchConfig, fleet: OffloadFleet) -> Iterator[None]:
    """`cpu` and `gateway` (in its own fleet): stress the device CPU; `delay`: slow every
    proxy; `down`: kill the hub (for good: run it last); `idle`: nothing."""
    if name in ("cpu", GATEWAY):
        bound = 2 * cfg.time_limit_s + 60.0  # ends by itself even if we were killed
        with cpu_stress(cfg.stress_processes, bound, fleet.device_cpus, cfg.stress_nice):
            _wait_busy(fleet.device_cpus)
            yield
        return
    if name == "delay":
        for p in fleet.proxies.values():
            p.delay = cfg.delay_ms / 1000.0
        try:
            yield
        finally:
            for p in fleet.proxies.values():
                p.delay = 0.0
        return
    if name == "down":
        fleet.hub.kill()
    yield


def busy(cpus: set[int]) -> float:
    """How busy the device CPU is (%, over 0.5 s) before a scenario's requests: on a shared
    machine `idle` is only as idle as the other users leave it."""
    import psutil

    per_cpu = psutil.cpu_percent(interval=0.5, percpu=True)
    return max(per_cpu[c] for c in cpus if c < len(per_cpu))


def _wait_busy(cpus: set[int], tries: int = 10) -> None:
    """Until the device CPU measures >= 90 % busy over 0.6 s (longer than the agents' 0.5 s
    load sampling period), at most `tries` times."""
    import psutil

    for _ in range(tries):
        per_cpu = psutil.cpu_percent(interval=0.6, percpu=True)
        if min(per_cpu[c] for c in cpus if c < len(per_cpu)) >= 90.0:
            return


# --- the `gateway` scenario's fleet ------------------------------------------------------------
SITE = "bench-site"
GATEWAY_ID = "bench-gw"
# the devices' view of the site: the defaults (the hub's list read every 30 s, a gateway whose
# 5 s heartbeat is 12 s old dropped) but for the timeouts, long for a starved device. The
# gateway registers before the devices start, so their first read finds it. (Reading the list
# every second and 1 s heartbeats, as tests/e2e/test_gateway_e2e.py does to see a gateway die
# quickly, doubled the adaptive device's idle CPU: work no deployment does, in its tail.)
SITE_PEERS = {"timeout_s": 5.0, "breaker_cooldown_s": 5.0}
PEERS_TIMEOUT_S = 30.0


def gateway_fleet_modes(modes: Sequence[str]) -> dict[str, str]:
    """Each mode of the gateway scenario -> its device's pipeline mode: `gateway` (gateway-only)
    is an adaptive device whose hub link is cut once it knows the gateway (`gateway_fleet`)."""
    return {m: "adaptive" if m == GATEWAY else m for m in modes}


@contextlib.contextmanager
def gateway_fleet(
    work: Path,
    port: int,
    cfg: OffloadBenchConfig,
    modes: Sequence[str],
    cpus: tuple[set[int], set[int] | None],
) -> Iterator[OffloadFleet]:
    """One site: a gateway serving the full models (on the hub's CPUs) and one device per mode
    (on the device CPU) with the same models (GATEWAY_MODELS), every device reaching the hub
    through its own proxy at +`gateway_delay_ms`; MQTT 5 throughout (a request to a gateway
    has a response topic). The gateway-only device's proxy is cut once it knows the gateway:
    the gateway is then its only remote, and all it does not answer itself goes there."""
    device_cpus, other_cpus = cpus
    with contextlib.ExitStack() as stack:
        full = tuple(GATEWAY_MODELS.values())
        hub = HubProcess(work / "hub", port, cloud_models=full, cpus=other_cpus)
        stack.callback(hub.terminate)
        hub.start()
        secret = hub.create_device(GATEWAY_ID, site=SITE)
        gw_config = agent_config(
            GATEWAY_ID,
            port,
            secret=secret,
            hub_url=hub.url,
            models=full,
            peers={"serve": True},
        )
        gw_config["broker"] |= {"protocol": "5"}
        gw_config.pop("health_interval_s", None)  # the default 5 s heartbeat (SITE_PEERS)
        gateway = AgentProcess(work / "agents", gw_config, cpus=other_cpus)
        gateway.start()
        stack.callback(gateway.stop)
        hub.wait_for_gateway(gateway.proc, PEERS_TIMEOUT_S)
        proxies: dict[str, DelayProxy] = {}
        agents: dict[str, AgentProcess] = {}
        for mode, pipeline_mode in gateway_fleet_modes(modes).items():
            device = f"bench-{mode}"
            secret = hub.create_device(device, site=SITE)
            hub_url = None
            if mode != "edge":
                proxies[mode] = stack.enter_context(DelayProxy(hub.port, cfg.gateway_delay_ms))
                hub_url = f"http://127.0.0.1:{proxies[mode].port}"
            offload = agent_offload_config(pipeline_mode, None, cfg.probe_interval_s, True)
            offload["offload"]["timeout_s"] = 5.0  # a starved device is slow to read answers
            config = agent_config(
                device,
                port,
                secret=secret,
                hub_url=hub_url,
                models=full,
                peers=SITE_PEERS if pipeline_mode == "adaptive" else {"use": False},
                **offload,
            )
            config["broker"] |= {"protocol": "5"}
            config.pop("health_interval_s", None)  # as in `offload_fleet`
            agents[mode] = AgentProcess(work / "agents", config, cpus=device_cpus)
            agents[mode].start()
            stack.callback(agents[mode].stop)
        client = Client(port, "bench-offload", health=True)
        stack.callback(client.close)
        deadline = time.monotonic() + ONLINE_TIMEOUT_S
        for agent in (gateway, *agents.values()):
            if not client.online(agent.device, max(0.1, deadline - time.monotonic())):
                raise RuntimeError(f"agent {agent.device} not online:\n{agent.log_tail()}")
        deadline = time.monotonic() + PEERS_TIMEOUT_S
        for mode, pipeline_mode in gateway_fleet_modes(modes).items():
            device = f"bench-{mode}"
            if pipeline_mode == "adaptive" and not _knows_gateway(client, device, deadline):
                raise RuntimeError(f"bench-{mode} never saw the gateway:\n{gateway.log_tail()}")
        if GATEWAY in proxies:
            proxies[GATEWAY].cut()
        yield OffloadFleet(hub, agents, proxies, client, device_cpus, gateway, dict(GATEWAY_MODELS))


def _knows_gateway(client: Client, device: str, deadline: float) -> bool:
    """Whether `device`'s heartbeat counts the gateway available before `deadline`."""

    def known() -> bool:
        counters = client.health.get(device, {}).get("counters", {})
        return bool(counters.get("peers.available", 0) >= 1)

    return client.wait(known, max(0.1, deadline - time.monotonic()))
