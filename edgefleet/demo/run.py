"""The demo's life: broker in this process, hub and agents as children, sensors, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

from cloud_hub.serving import free_port
from contract import Kind, Topics
from edgefleet.demo import sensors
from edgefleet.demo.banner import banner
from edgefleet.demo.fleet import DEVICES, DemoOptions, DemoSecrets, Hub, Running, say, url_host
from edgefleet.demo.hub import grant_sensor_topics, provision_agents, start_hub
from edgefleet.demo.watch import WATCHED, watch
from edgefleet.procs.agent import spawn_agent, write_agent_config
from edgefleet.procs.process import stop_process, tail

ONLINE_TIMEOUT_S = 60.0


async def run_demo(opts: DemoOptions) -> int:
    """Until SIGINT/SIGTERM (or `duration_s`); the exit code: 0 when every agent stopped
    cleanly."""
    from broker.server import running_broker
    from broker.settings import load_settings

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    say("edgefleet demo: preparing models and simulated sensor data ...")
    models = {m for d in DEVICES for m in d.models}
    await asyncio.to_thread(sensors.ensure_models, models)
    frames, clips = await asyncio.gather(
        asyncio.to_thread(sensors.frames, opts.seed), asyncio.to_thread(sensors.clips, opts.seed)
    )
    if not clips:
        say("warning: espeak-ng not found - the simulated microphone stays silent")

    # Demo mode (docs/broker.md): anonymous loopback clients may use the public topics only; the
    # agents, the hub and the simulated sensors log in, checked against the hub's registry.
    keys = DemoSecrets()
    if not opts.hub_port:
        opts.hub_port = free_port(opts.host)
    settings = load_settings(
        host=opts.host,
        port=opts.port,
        demo=True,
        hub_url=f"http://{url_host(opts.host)}:{opts.hub_port}",
        hub_service_key=keys.service_key,
        persistence=True,
        data_dir=opts.workdir / "broker",
    )
    running = Running()
    async with running_broker(settings) as broker:
        running.lines.append(
            ("broker", f"{broker.url}  (embedded amqtt; anonymous: public topics only)")
        )
        try:
            return await _run_fleet(opts, broker.port, frames, clips, running, stop, keys)
        finally:
            await _stop_fleet(running)


def _agent_configs(opts: DemoOptions, port: int, hub: Hub) -> dict[str, Path]:
    return {
        device.device_id: write_agent_config(
            opts.workdir / "agents" / f"{device.device_id}.yaml",
            device.device_id,
            device.models,
            port=port,
            host=opts.host,
            sensors=device.sensors,
            health_interval_s=opts.health_interval_s,
            extra={"hub": {"url": hub.url}},
        )
        for device in DEVICES
    }


def _start_agents(
    opts: DemoOptions, configs: dict[str, Path], running: Running, topics: Topics
) -> None:
    for device in DEVICES:
        log = opts.workdir / "logs" / f"{device.device_id}.log"
        log.unlink(missing_ok=True)
        proc = spawn_agent(configs[device.device_id], log=log, log_level=opts.agent_log_level)
        running.agents[device.device_id] = proc
        running.logs[device.device_id] = log
        subs = [topics.infer(device.device_id, m) + "/<rid>" for m in device.models]
        subs += [s["topic"] for s in device.sensors]
        running.lines.append(
            (
                "agent",
                f"{device.device_id:<12} {', '.join(device.models)} "
                f"(pid {proc.pid}, {device.role}) <- {', '.join(subs)}",
            )
        )


async def _run_fleet(
    opts: DemoOptions,
    port: int,
    frames: list[bytes],
    clips: list[tuple[str, bytes]],
    running: Running,
    stop: asyncio.Event,
    keys: DemoSecrets,
) -> int:
    import aiomqtt

    topics = Topics()
    hub = await start_hub(opts, port, running, keys)
    configs = _agent_configs(opts, port, hub)
    await provision_agents(hub, configs)
    await grant_sensor_topics(hub)
    _start_agents(opts, configs, running, topics)

    online: set[str] = set()
    async with aiomqtt.Client(
        opts.host,
        port,
        identifier=f"edgefleet-demo-{os.getpid()}",
        username=keys.SENSORS_USER,
        password=keys.sensors_password,
    ) as mq:
        await mq.subscribe([(topics.filter(Kind(k)), 1) for k in WATCHED])
        watcher = asyncio.create_task(watch(mq, topics, opts.quiet, online))
        try:
            if not await _wait_online(running, online, stop, limit_s=ONLINE_TIMEOUT_S):
                return 0 if stop.is_set() else 1
            banner(opts, port, running, frames, clips)
            done = asyncio.Event()
            cam = sensors.camera(mq, topics, frames, opts.interval_s, done)
            sims = [asyncio.create_task(cam)]
            if clips:
                mic = sensors.microphone(mq, topics, clips, opts.interval_s, done)
                sims.append(asyncio.create_task(mic))
            try:
                await _until_stopped(running, stop, opts.duration_s)
            finally:
                done.set()
                for task in sims:
                    task.cancel()
                await asyncio.gather(*sims, return_exceptions=True)
            say("edgefleet demo: stopping ...")
            await _stop_fleet(running)
            await asyncio.sleep(0.3)  # let the offline statuses reach the watcher
            failed = {d: p.returncode for d, p in running.agents.items() if p.returncode != 0}
            for device, code in failed.items():
                say(f"edgefleet demo: agent {device} exited with {code}; its log:")
                say(tail(running.logs[device]))
            return 1 if failed else 0
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


async def _wait_online(
    running: Running, online: set[str], stop: asyncio.Event, limit_s: float
) -> bool:
    deadline = time.monotonic() + limit_s
    while not stop.is_set() and time.monotonic() < deadline:
        if online >= set(running.agents):
            return True
        for device, proc in running.agents.items():
            if proc.poll() is not None:
                say(f"edgefleet demo: agent {device} exited with {proc.returncode}; its log:")
                say(tail(running.logs[device]))
                return False
        await asyncio.sleep(0.05)
    if not stop.is_set():
        say(
            f"edgefleet demo: agents not online after {limit_s:.0f} s: "
            f"{sorted(set(running.agents) - online)}; logs in {running.logs}"
        )
    return False


async def _until_stopped(running: Running, stop: asyncio.Event, duration_s: float) -> None:
    deadline = time.monotonic() + duration_s if duration_s > 0 else None
    while not stop.is_set():
        if deadline is not None and time.monotonic() >= deadline:
            return
        for device, proc in (running.agents | running.services).items():
            if proc.poll() is not None:
                say(f"edgefleet demo: {device} exited ({proc.returncode}); stopping")
                say(tail(running.logs[device]))
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def _stop_fleet(running: Running) -> None:
    """Agents first (the hub records them offline), then the hub."""
    for group in (running.agents, running.services):
        procs = [p for p in group.values() if p.poll() is None]  # one SIGTERM each, at once
        await asyncio.gather(*(asyncio.to_thread(stop_process, p, 10.0) for p in procs))
