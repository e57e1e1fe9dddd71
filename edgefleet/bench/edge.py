"""`edgefleet bench edge`: what MQTT costs on top of local inference (SPEC §6, edge overhead).

Per model, three levels, each measured sequentially (one request at a time: p50/p99) and,
where it makes sense, pipelined (a bounded window of requests in flight: sustained rate):

1. `invoke`: each `Runtime.invoke()` the pipeline makes on the real input, timed alone (for
   wakeword-lite one 30 ms feature step of one word model - a clip needs many).
2. `in-process`: decode + preprocess + `invoke()` + postprocess (`Pipeline` stages, no MQTT);
   its rate is back-to-back `run()` calls on one thread, like one agent worker.
3. `mqtt`: a real `edgefleet agent` process on loopback; the request is published on
   `{d}/infer/{m}/{rid}` and the clock stops when `{d}/result/{m}/{rid}` arrives. Against the
   embedded amqtt (`edgefleet broker`) and Mosquitto, each a subprocess on a free port.

Plus the agent's footprint per broker: cold start (process spawn -> first result received)
and RSS after loading the light models (face-detect-lite + wakeword-lite) and serving both.

Inputs: a 640x480 JPEG with one face (`models.datasets.faces.face_image`) and a 1.8 s espeak-ng
"okay nabu" clip (`models.datasets.speech.wake_clip`). Every loop is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cloud_hub.serving import free_port
from contract import Topics
from edgefleet.bench.report import (
    Check,
    Column,
    Report,
    Summary,
    Table,
    bar_chart,
    check_max,
    check_min,
    print_report,
    write_report,
)

FACE_MODELS = ("face-detect-lite", "face-detect-full")
LIGHT_MODELS = ("face-detect-lite", "wakeword-lite")
TARGET_MODEL = "face-detect-lite"
TARGET_BROKER = "mosquitto"
BROKERS = ("amqtt", "mosquitto")
RESULT_TIMEOUT_S = 10.0
START_TIMEOUT_S = 30.0


@dataclass
class EdgeBenchConfig:
    models: tuple[str, ...] = ("face-detect-lite", "face-detect-full", "wakeword-lite")
    brokers: tuple[str, ...] = BROKERS
    requests: int = 300  # sequential, per level
    throughput_requests: int = 600  # pipelined, per MQTT run (and back-to-back in-process)
    window: int = 16  # requests in flight while pipelining
    warmup: int = 20
    cold_starts: int = 3
    time_limit_s: float = 30.0  # cap of each measurement loop
    mqtt: bool = True
    plots: bool = True
    invoke_requests: int = 1000  # raw invoke() calls (cheap)

    def validate(self) -> None:
        from models.catalogue import load_catalogue

        known = load_catalogue().ids
        unknown = [m for m in self.models if m not in known]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; the catalogue lists {known}")
        bad = [b for b in self.brokers if b not in BROKERS]
        if bad:
            raise ValueError(f"unknown broker(s) {bad}; choose from {list(BROKERS)}")
        if "mosquitto" in self.brokers and self.mqtt and not _mosquitto_path():
            raise ValueError("mosquitto is not installed (apt-get install mosquitto)")
        for name in ("requests", "throughput_requests", "window", "invoke_requests"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        if self.warmup < 0 or self.cold_starts < 0 or self.time_limit_s <= 0:
            raise ValueError("--warmup/--cold-starts must be >= 0 and --time-limit > 0")


# ------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class BenchInput:
    kind: str
    payload: bytes
    description: str


def bench_input(model: str) -> BenchInput:
    """The realistic input of a model: a 640x480 face JPEG or a 1.8 s wake phrase."""
    from models.catalogue import load_catalogue

    spec = load_catalogue().get(model)
    if spec.task == "face-detection":
        from models.datasets.faces import face_image

        sample = face_image(seed=0)
        return BenchInput(
            "image",
            sample.jpeg,
            f"{sample.width}x{sample.height} JPEG, 1 face, {len(sample.jpeg)} B",
        )
    if spec.task == "wakeword":
        from models.datasets.speech import wake_clip

        clip = wake_clip("okay_nabu")
        return BenchInput(
            "audio", clip.wav, f"{clip.duration_s:.1f} s 16 kHz WAV 'okay nabu', {len(clip.wav)} B"
        )
    raise ValueError(f"no benchmark input for task {spec.task!r} of {model}")


# --------------------------------------------------------------------------------- in-process


def _bounded(count: int, time_limit_s: float) -> Iterator[int]:
    deadline = time.perf_counter() + time_limit_s
    for i in range(count):
        if i and time.perf_counter() > deadline:
            return
        yield i


def _runtimes(pipeline: Any) -> list[Any]:
    """The `Runtime` objects a pipeline holds (as attributes, or in lists of word models)."""
    from models.runtimes import Runtime

    found: list[Any] = []
    for value in vars(pipeline).values():
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            rt = item if isinstance(item, Runtime) else getattr(item, "runtime", None)
            if isinstance(rt, Runtime) and rt not in found:
                found.append(rt)
    return found


@dataclass
class InvokeStats:
    latency: Summary
    per_request: float  # invoke() calls per pipeline run


def measure_invoke(model: str, payload: bytes, cfg: EdgeBenchConfig) -> InvokeStats:
    """Every `Runtime.invoke()` the pipeline makes on the real input, timed one by one."""
    from models.pipelines import load_pipeline

    pipeline = load_pipeline(model)
    times: list[float] = []
    runtimes = _runtimes(pipeline)
    if not runtimes:
        return InvokeStats(Summary.of([]), math.nan)
    clock = time.perf_counter

    def timed(invoke: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*arrays: Any) -> Any:
            t0 = clock()
            result = invoke(*arrays)
            times.append((clock() - t0) * 1000)
            return result

        return wrapper

    for _ in range(cfg.warmup):
        pipeline.run(payload)
    for rt in runtimes:
        rt.invoke = timed(rt.invoke)
    runs = 0
    for _ in _bounded(cfg.invoke_requests, cfg.time_limit_s):
        pipeline.run(payload)
        runs += 1
        if len(times) >= cfg.invoke_requests:
            break
    return InvokeStats(Summary.of(times), len(times) / runs if runs else math.nan)


@dataclass
class InProcess:
    latency: Summary
    stages_p50: dict[str, float]
    rate: float  # back-to-back run() per second
    rate_n: int


def measure_in_process(model: str, payload: bytes, cfg: EdgeBenchConfig) -> InProcess:
    from models.pipelines import load_pipeline

    pipeline = load_pipeline(model)
    for _ in range(cfg.warmup):
        pipeline.run(payload)
    stages: dict[str, list[float]] = {
        "decode": [],
        "preprocess": [],
        "infer": [],
        "postprocess": [],
    }
    total: list[float] = []
    clock = time.perf_counter
    for _ in _bounded(cfg.requests, cfg.time_limit_s):
        t0 = clock()
        x = pipeline.decode(payload)
        t1 = clock()
        inputs = pipeline.preprocess(x)
        t2 = clock()
        raw = pipeline.infer(inputs)
        t3 = clock()
        pipeline.postprocess(raw, x)
        t4 = clock()
        for name, a, b in (
            ("decode", t0, t1),
            ("preprocess", t1, t2),
            ("infer", t2, t3),
            ("postprocess", t3, t4),
        ):
            stages[name].append((b - a) * 1000)
        total.append((t4 - t0) * 1000)
    n = 0
    start = clock()
    for n in _bounded(cfg.throughput_requests, cfg.time_limit_s):  # noqa: B007
        pipeline.run(payload)
    elapsed = clock() - start
    done = n + 1
    return InProcess(
        Summary.of(total),
        {k: statistics.median(v) for k, v in stages.items() if v},
        done / elapsed if elapsed > 0 else math.nan,
        done,
    )


# -------------------------------------------------------------------------------- processes


def _mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None
    )


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"broker not listening on {port} after {timeout:.0f} s")


@contextlib.contextmanager
def broker_process(kind: str, workdir: Path) -> Iterator[int]:
    """A broker subprocess on a free loopback port (retried if the port gets taken)."""
    from edgefleet.demo import agent_command, spawn, stop_process

    last: Exception | None = None
    for _attempt in range(3):
        port = free_port()
        log = workdir / f"{kind}.log"
        if kind == "amqtt":
            args = [
                *agent_command(),
                "broker",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--allow-anonymous",
            ]
        else:
            conf = workdir / "mosquitto.conf"
            conf.write_text(
                f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                "persistence false\nset_tcp_nodelay true\n"
                "log_dest stderr\nlog_type error\n"
                "log_type warning\nmax_queued_messages 10000\n"
            )
            mosquitto = _mosquitto_path()
            assert mosquitto is not None
            args = [mosquitto, "-c", str(conf)]
        proc = spawn(args, log=log)
        try:
            _wait_port(port, proc, START_TIMEOUT_S)
        except RuntimeError as exc:
            stop_process(proc)
            last = exc
            continue
        try:
            yield port
        finally:
            stop_process(proc)
        return
    raise RuntimeError(f"{kind} broker did not start: {last}")


class Client:
    """A paho client that times request -> result by rid; its network loop is a thread."""

    def __init__(self, port: int, name: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.topics = Topics()
        self.cond = threading.Condition()
        self.received: dict[str, tuple[float, bytes]] = {}
        self.statuses: dict[str, str] = {}
        self._sem: threading.Semaphore | None = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{name}-{os.getpid()}",
            protocol=mqtt.MQTTv311,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port, keepalive=60)
        sock = self.client.socket()
        if isinstance(sock, socket.socket):  # no Nagle delay on our requests
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.loop_start()
        self.client.subscribe([(self.topics.filter(k), 1) for k in _KINDS])  # type: ignore[arg-type]
        if not subscribed.wait(10):
            raise RuntimeError("no SUBACK from the broker")

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        now = time.perf_counter()
        topic: str = message.topic
        try:
            parsed = self.topics.parse(topic)
        except Exception:
            return
        with self.cond:
            if parsed.kind.value == "status":
                with contextlib.suppress(Exception):
                    self.statuses[parsed.device] = json.loads(message.payload)["state"]
            elif parsed.rid is not None and parsed.kind.value in {"result", "error"}:
                self.received[parsed.rid] = (now, bytes(message.payload))
                if self._sem is not None:
                    self._sem.release()
            elif parsed.kind.value == "error":
                with contextlib.suppress(Exception):
                    rid = json.loads(message.payload).get("rid")
                    if rid:
                        self.received[rid] = (now, bytes(message.payload))
                        if self._sem is not None:
                            self._sem.release()
            self.cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


_KINDS = ("status", "result", "error")


@dataclass
class AgentHandle:
    device: str
    proc: subprocess.Popen[bytes]
    spawned: float  # perf_counter at spawn
    log: Path


def start_agent(workdir: Path, port: int, device: str, models: tuple[str, ...]) -> AgentHandle:
    from edgefleet.demo import spawn_agent, write_agent_config

    config = write_agent_config(
        workdir / f"{device}.yaml", device, models, port=port, health_interval_s=30.0
    )
    log = workdir / f"{device}.log"
    t0 = time.perf_counter()
    proc = spawn_agent(config, log=log, log_level="WARNING")
    return AgentHandle(device, proc, t0, log)


def wait_online(client: Client, agent: AgentHandle, timeout: float = START_TIMEOUT_S) -> None:
    if not client.wait(
        lambda: client.statuses.get(agent.device) == "online" or agent.proc.poll() is not None,
        timeout,
    ):
        raise RuntimeError(f"agent {agent.device} not online after {timeout:.0f} s")
    if agent.proc.poll() is not None:
        from edgefleet.demo import tail

        raise RuntimeError(
            f"agent {agent.device} exited ({agent.proc.returncode}):\n{tail(agent.log)}"
        )


def rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / (1024 * 1024)


_rid_counter = itertools.count(1)


def _rid(prefix: str) -> str:
    return f"{prefix}{next(_rid_counter):07d}"


def request(client: Client, device: str, model: str, payload: bytes) -> tuple[float, bytes]:
    """One request, waited for: (latency ms, result payload)."""
    rid = _rid("s")
    topic = client.topics.infer(device, model, rid)
    t0 = time.perf_counter()
    client.publish(topic, payload)
    if not client.wait(lambda: rid in client.received, RESULT_TIMEOUT_S):
        raise TimeoutError(f"no result for {rid} within {RESULT_TIMEOUT_S:.0f} s")
    with client.cond:
        t1, body = client.received.pop(rid)
    return (t1 - t0) * 1000, body


@dataclass
class MqttRun:
    latency: Summary
    agent_latency_p50: float | None  # the agent's own latency_ms (arrival -> result ready)
    rate: float
    rate_n: int
    lost: int


def measure_mqtt(
    client: Client, device: str, model: str, payload: bytes, cfg: EdgeBenchConfig
) -> MqttRun:
    for _ in range(cfg.warmup):
        request(client, device, model, payload)
    times: list[float] = []
    agent_ms: list[float] = []
    for _ in _bounded(cfg.requests, cfg.time_limit_s):
        ms, body = request(client, device, model, payload)
        times.append(ms)
        with contextlib.suppress(Exception):
            agent_ms.append(float(json.loads(body)["latency_ms"]))
    rate, n, lost = _pipelined(client, device, model, payload, cfg)
    return MqttRun(
        Summary.of(times), statistics.median(agent_ms) if agent_ms else None, rate, n, lost
    )


def _pipelined(
    client: Client, device: str, model: str, payload: bytes, cfg: EdgeBenchConfig
) -> tuple[float, int, int]:
    """Keep `window` requests in flight; rate = answered / (first publish -> last answer)."""
    sem = threading.Semaphore(cfg.window)
    rids: list[str] = []
    with client.cond:
        client._sem = sem
    deadline = time.perf_counter() + cfg.time_limit_s
    start = time.perf_counter()
    try:
        for _ in range(cfg.throughput_requests):
            if not sem.acquire(timeout=RESULT_TIMEOUT_S) or time.perf_counter() > deadline:
                break
            rid = _rid("p")
            rids.append(rid)
            client.publish(client.topics.infer(device, model, rid), payload)
        client.wait(lambda: all(r in client.received for r in rids), RESULT_TIMEOUT_S)
    finally:
        with client.cond:
            client._sem = None
            got = [client.received.pop(r)[0] for r in rids if r in client.received]
    if not got:
        return math.nan, 0, len(rids)
    elapsed = max(got) - start
    return len(got) / elapsed, len(got), len(rids) - len(got)


def _any_received(client: Client, rids: tuple[str, ...]) -> bool:
    return any(r in client.received for r in rids)


@dataclass
class Footprint:
    cold_start_ms: list[float] = field(default_factory=list)
    online_ms: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)


def measure_footprint(
    client: Client,
    workdir: Path,
    port: int,
    broker: str,
    cfg: EdgeBenchConfig,
    inputs: dict[str, BenchInput],
) -> Footprint:
    """Cold start (spawn -> first face result) and RSS with the light models, `cold_starts`x."""
    from edgefleet.demo import stop_process

    fp = Footprint()
    face = inputs.get(TARGET_MODEL) or bench_input(TARGET_MODEL)
    voice = inputs.get("wakeword-lite") or bench_input("wakeword-lite")
    for i in range(cfg.cold_starts):
        device = f"bench-cold-{broker}-{i}"
        agent = start_agent(workdir, port, device, LIGHT_MODELS)
        try:
            # publish as soon as the agent is online (it subscribes before its birth); repeat
            # every 50 ms in case the very first request raced the subscription
            wait_online(client, agent)
            fp.online_ms.append((time.perf_counter() - agent.spawned) * 1000)
            first: float | None = None
            rids: list[str] = []
            deadline = time.perf_counter() + RESULT_TIMEOUT_S
            while first is None and time.perf_counter() < deadline:
                rid = _rid("c")
                rids.append(rid)
                client.publish(client.topics.infer(device, TARGET_MODEL, rid), face.payload)
                client.wait(functools.partial(_any_received, client, tuple(rids)), 0.05)
                with client.cond:
                    hits = [client.received[r][0] for r in rids if r in client.received]
                if hits:
                    first = min(hits)
            if first is None:
                raise RuntimeError(f"agent {device}: no first result")
            fp.cold_start_ms.append((first - agent.spawned) * 1000)
            for _ in range(5):  # serve both light models, then read RSS
                request(client, device, TARGET_MODEL, face.payload)
                request(client, device, "wakeword-lite", voice.payload)
            fp.rss_mb.append(rss_mb(agent.proc.pid))
        finally:
            fp.exit_codes.append(stop_process(agent.proc))
            with client.cond:
                client.received.clear()
    return fp


# ------------------------------------------------------------------------------------- run


COLUMNS = [
    Column("model", "model", justify="left"),
    Column("level", "level", justify="left"),
    Column("broker", "broker", justify="left"),
    Column("n", "n", "{:d}"),
    Column("p50_ms", "p50 ms", "{:.3g}"),
    Column("p99_ms", "p99 ms", "{:.3g}"),
    Column("rate", "req/s", "{:.1f}"),
    Column("p50_over_inproc_ms", "p50 - in-proc ms", "{:+.2f}"),
    Column("p50_ratio", "p50 / in-proc", "{:.2f}x"),
    Column("rate_ratio", "rate / in-proc", "{:.0%}"),
]
FOOTPRINT_COLUMNS = [
    Column("broker", "broker", justify="left"),
    Column("models", "agent models", justify="left"),
    Column("runs", "runs", "{:d}"),
    Column("online_ms", "spawn -> online ms (median)", "{:.0f}"),
    Column("cold_start_ms", "cold start ms (median)", "{:.0f}"),
    Column("cold_start_max_ms", "cold start ms (max)", "{:.0f}"),
    Column("rss_mb", "RSS MB (max)", "{:.1f}"),
]


def _row(
    model: str,
    level: str,
    broker: str,
    s: Summary,
    rate: float | None,
    n_rate: int | None,
    base: InProcess | None = None,
    **extra: Any,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": model,
        "level": level,
        "broker": broker,
        "n": s.n,
        "p50_ms": s.p50,
        "p99_ms": s.p99,
        "mean_ms": s.mean,
        "min_ms": s.min,
        "max_ms": s.max,
        "rate": rate,
        "rate_n": n_rate,
    }
    if base is not None:
        row["p50_over_inproc_ms"] = s.p50 - base.latency.p50
        row["p50_ratio"] = s.p50 / base.latency.p50
        row["p99_ratio"] = s.p99 / base.latency.p99
        if rate is not None and base.rate:
            row["rate_ratio"] = rate / base.rate
    row.update(extra)
    return row


def run_edge_bench(cfg: EdgeBenchConfig, out: Path, console: Any = None) -> Report:
    from rich.console import Console

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
    report = Report(
        "edge",
        "edgefleet bench edge - MQTT request -> local inference -> result",
        config=asdict(cfg),
    )
    main = Table(
        "latency", f"Latency (sequential) and throughput (pipelined, window {cfg.window})", COLUMNS
    )
    footprint = Table(
        "footprint",
        f"Agent footprint (light models: {' + '.join(LIGHT_MODELS)})",
        FOOTPRINT_COLUMNS,
    )
    report.tables = [main, footprint]

    inputs = {m: bench_input(m) for m in cfg.models}
    report.extra["inputs"] = {m: i.description for m, i in inputs.items()}
    base: dict[str, InProcess] = {}
    for model in cfg.models:
        console.print(f"[bold]{model}[/bold]: invoke() and in-process compute ...")
        payload = inputs[model].payload
        inv = measure_invoke(model, payload, cfg)
        main.rows.append(
            _row(model, "invoke", "-", inv.latency, None, None, invokes_per_request=inv.per_request)
        )
        ip = base[model] = measure_in_process(model, payload, cfg)
        main.rows.append(
            _row(
                model,
                "in-process",
                "-",
                ip.latency,
                ip.rate,
                ip.rate_n,
                stages_p50_ms=ip.stages_p50,
            )
        )

    fps: dict[str, Footprint] = {}
    if cfg.mqtt:
        with tempfile.TemporaryDirectory(prefix="edgefleet-bench-") as tmp:
            for broker in cfg.brokers:
                workdir = Path(tmp) / broker
                workdir.mkdir()
                try:
                    _bench_broker(broker, workdir, cfg, inputs, base, main, fps, console)
                except Exception as exc:  # report what failed, keep the other broker's numbers
                    report.notes.append(f"{broker}: MQTT measurement failed: {exc}")
                    console.print(f"[red]{broker}: {exc}[/red]")
    for broker, fp in fps.items():
        footprint.rows.append(
            {
                "broker": broker,
                "models": "+".join(LIGHT_MODELS),
                "runs": len(fp.cold_start_ms),
                "online_ms": statistics.median(fp.online_ms) if fp.online_ms else None,
                "cold_start_ms": statistics.median(fp.cold_start_ms) if fp.cold_start_ms else None,
                "cold_start_max_ms": max(fp.cold_start_ms, default=None),
                "rss_mb": max(fp.rss_mb, default=None),
                "cold_start_all_ms": fp.cold_start_ms,
                "rss_all_mb": fp.rss_mb,
                "agent_exit_codes": fp.exit_codes,
            }
        )
    # main table order: per model, invoke / in-process / mqtt per broker
    order = {m: i for i, m in enumerate(cfg.models)}
    levels = {"invoke": 0, "in-process": 1, "mqtt": 2}
    main.rows.sort(key=lambda r: (order[r["model"]], levels[r["level"]], r["broker"]))

    report.checks = _checks(cfg, main, fps, base)
    report.notes.append(
        "p50/p99: sequential requests, one at a time; req/s: pipelined with "
        f"{cfg.window} in flight (MQTT) or back-to-back run() on one thread (in-process)."
    )
    if "wakeword-lite" in cfg.models:
        per = _find(main.rows, "wakeword-lite", "invoke", "-").get("invokes_per_request")
        report.notes.append(
            "wakeword-lite invoke = one 30 ms feature step of one word model; "
            f"the {inputs['wakeword-lite'].description.split(',')[0]} clip "
            f"takes {per or 0:.0f} invokes (all word models)."
        )
    if cfg.plots:
        report.plots = _plots(report, cfg, out)
    path = write_report(report, out)
    print_report(report, console)
    console.print(f"wrote {path}" + "".join(f", {p}" for p in report.plots))
    return report


def _bench_broker(
    broker: str,
    workdir: Path,
    cfg: EdgeBenchConfig,
    inputs: dict[str, BenchInput],
    base: dict[str, InProcess],
    main: Table,
    fps: dict[str, Footprint],
    console: Any,
) -> None:
    from edgefleet.demo import stop_process

    with broker_process(broker, workdir) as port:
        client = Client(port, f"bench-{broker}")
        try:
            if cfg.cold_starts:
                console.print(
                    f"[bold]{broker}[/bold]: agent cold start and RSS ({cfg.cold_starts}x) ..."
                )
                fps[broker] = measure_footprint(client, workdir, port, broker, cfg, inputs)
            device = f"bench-{broker}"
            agent = start_agent(workdir, port, device, cfg.models)
            try:
                wait_online(client, agent)
                for model in cfg.models:
                    console.print(f"[bold]{broker}[/bold]: {model} over MQTT ...")
                    run = measure_mqtt(client, device, model, inputs[model].payload, cfg)
                    main.rows.append(
                        _row(
                            model,
                            "mqtt",
                            broker,
                            run.latency,
                            run.rate,
                            run.rate_n,
                            base[model],
                            lost=run.lost,
                            agent_latency_p50_ms=run.agent_latency_p50,
                        )
                    )
            finally:
                stop_process(agent.proc)
        finally:
            client.close()


def _find(rows: list[dict[str, Any]], model: str, level: str, broker: str) -> dict[str, Any]:
    return next(
        (r for r in rows if (r["model"], r["level"], r["broker"]) == (model, level, broker)), {}
    )


def _checks(
    cfg: EdgeBenchConfig, main: Table, fps: dict[str, Footprint], base: dict[str, InProcess]
) -> list[Check]:
    if TARGET_MODEL not in base:
        return []
    ip = base[TARGET_MODEL]
    mq = _find(main.rows, TARGET_MODEL, "mqtt", TARGET_BROKER)
    fp = fps.get(TARGET_BROKER)
    name = f"{TARGET_MODEL} on {TARGET_BROKER}"
    limit = ip.latency.p50 + 3.0
    rate_ratio = mq.get("rate_ratio")
    return [
        check_max(
            f"{name}: MQTT p50",
            mq.get("p50_ms"),
            limit,
            "ms",
            f"in-process p50 {ip.latency.p50:.2f} + 3 ms",
        ),
        check_min(
            f"{name}: MQTT rate / in-process",
            None if rate_ratio is None else rate_ratio * 100,
            85.0,
            "%",
            f"in-process {ip.rate:.0f} req/s",
        ),
        check_max(
            "agent RSS, light models", max(fp.rss_mb) if fp and fp.rss_mb else None, 120.0, "MB"
        ),
        check_max(
            "agent cold start (median)",
            statistics.median(fp.cold_start_ms) if fp and fp.cold_start_ms else None,
            1500.0,
            "ms",
            "spawn -> first result",
        ),
    ]


def _plots(report: Report, cfg: EdgeBenchConfig, out: Path) -> list[Path]:
    rows = report.table("latency").rows
    models = list(cfg.models)
    series: dict[str, list[float | None]] = {}
    whiskers: dict[str, list[float | None]] = {}
    rates: dict[str, list[float | None]] = {}
    keys = [("invoke", "-"), ("in-process", "-")] + [("mqtt", b) for b in cfg.brokers]
    for level, broker in keys:
        label = level if broker == "-" else f"mqtt {broker}"
        found = [_find(rows, m, level, broker) for m in models]
        if not any(found):
            continue
        series[label] = [r.get("p50_ms") for r in found]
        whiskers[label] = [r.get("p99_ms") for r in found]
        if level != "invoke":
            rates[label] = [r.get("rate") for r in found]
    paths = [
        bar_chart(
            out / "edge-latency.png",
            models,
            series,
            errors=whiskers,
            log=True,
            title="Latency per level (bar p50, whisker p99)",
            ylabel="ms (log)",
        ),
        bar_chart(
            out / "edge-throughput.png",
            models,
            rates,
            title=f"Sustained throughput (MQTT window {cfg.window})",
            ylabel="requests/s",
        ),
    ]
    fp_rows = report.table("footprint").rows
    if fp_rows:
        brokers = [r["broker"] for r in fp_rows]
        paths.append(
            bar_chart(
                out / "edge-footprint.png",
                brokers,
                {
                    "cold start ms": [r.get("cold_start_ms") for r in fp_rows],
                    "RSS MB": [r.get("rss_mb") for r in fp_rows],
                },
                title="Agent cold start (median) and RSS, light models",
                ylabel="ms / MB",
            )
        )
    return paths


def main() -> None:  # pragma: no cover - `python -m edgefleet.bench.edge`
    from edgefleet.bench.cli import app

    app(args=["edge", *sys.argv[1:]], prog_name="edgefleet bench")


__all__ = ["EdgeBenchConfig", "bench_input", "run_edge_bench"]
