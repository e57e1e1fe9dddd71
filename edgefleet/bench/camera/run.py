"""`edgefleet bench camera`, start to end: still and moving streams, then accuracy; report."""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from cloud_hub.serving import free_port
from edgefleet.bench.camera.config import FOUND_MIN, SCENARIOS, STILL_CPU_MAX, CameraBenchConfig
from edgefleet.bench.camera.scoring import found, scenes_found
from edgefleet.bench.client import Client, wait_online
from edgefleet.bench.plots import bar_chart
from edgefleet.bench.report import (
    Column,
    Report,
    Table,
    check_max,
    check_min,
    publish,
    wide_console,
)
from edgefleet.procs.agent import spawn_agent, write_agent_config
from edgefleet.procs.broker import broker_kind, broker_process
from edgefleet.procs.camera import MjpegStream, write_frames
from edgefleet.procs.process import stop_process, tail
from models.datasets.faces import FaceSample, generate

CAMERA = "bench"
MOVING_SCENES = 50  # distinct scenes the moving stream cycles through
HOLD = 2  # frames per scene in the accuracy pass: the first moves, the second is still
READY_TIMEOUT_S = 30.0


@dataclass
class RunningAgent:
    device: str
    proc: subprocess.Popen[bytes]
    log: Path


def run_camera_bench(cfg: CameraBenchConfig, out: Path, console: Any = None) -> Report:
    console = wide_console(console)
    broker = broker_kind(cfg.broker)
    report = Report(
        "camera",
        "edgefleet bench camera - one camera: capture, motion gating, detection",
        config={**asdict(cfg), "broker": broker},
    )
    windows = Table("scenarios", f"Agent reading one HTTP MJPEG camera at {cfg.fps:g} fps", [
        Column("scenario", "scenario", justify="left"),
        Column("seconds", "s", "{:.1f}"),
        Column("fps", "frames read /s", "{:.1f}"),
        Column("inferred_per_s", "to the model /s", "{:.2f}"),
        Column("dropped", "dropped", "{:d}"),
        Column("cpu_pct", "agent CPU % of a core", "{:.1f}"),
        Column("cpu_ms_per_frame", "CPU ms / frame read", "{:.2f}"),
    ])  # fmt: skip
    accuracy = Table("accuracy", "Faces found through the camera (IoU >= 0.5, every face)", [
        Column("scenes", "scenes", "{:d}"),
        Column("camera_found", "found via camera", "{:d}"),
        Column("camera_pct", "camera %", "{:.1f}"),
        Column("in_process_pct", "same JPEGs in process %", "{:.1f}"),
        Column("inferred", "inferences", "{:d}"),
    ])  # fmt: skip
    report.tables = [windows, accuracy]
    scenes = generate(
        max(cfg.scenes, MOVING_SCENES),
        cfg.seed,
        sources=["astronaut"],
        max_faces=1,
        negative_fraction=0.0,
    )
    with tempfile.TemporaryDirectory(prefix="edgefleet-bench-camera-") as tmp:
        work = Path(tmp)
        with broker_process(broker, work) as port:
            client = Client(port, "bench-camera", health=True)
            try:
                for scenario in SCENARIOS:
                    console.print(f"[bold]{scenario}[/bold]: {cfg.seconds:g} s ...")
                    windows.rows.append(_window(scenario, scenes, cfg, work, port, client))
                console.print(f"[bold]accuracy[/bold]: {cfg.scenes} scenes ...")
                accuracy.rows.append(_accuracy(scenes[: cfg.scenes], cfg, work, port, client))
            finally:
                client.close()
    cpu = {row["scenario"]: row["cpu_pct"] for row in windows.rows}
    ratio = cpu["still"] / cpu["moving"] if cpu.get("moving") else None
    report.checks = [
        check_max("agent CPU, still / moving", ratio, STILL_CPU_MAX, "", "motion gating"),
        check_min("scenes found via the camera", accuracy.rows[0]["camera_pct"], FOUND_MIN * 100),
    ]
    report.notes.append(
        "still: one JPEG repeated; moving: a new scene every frame; CPU is the agent process's "
        "user + system time over the window (psutil), 100 % = one core. ffmpeg and the broker "
        "run beside it on the same cores."
    )
    if cfg.plots:
        report.plots = [
            bar_chart(
                out / "camera-cpu.png",
                [row["scenario"] for row in windows.rows],
                {"agent CPU %": [row["cpu_pct"] for row in windows.rows]},
                title="Agent CPU with one camera: still vs moving scene",
                ylabel="% of one core",
            )
        ]
    publish(report, out, console)
    return report


def _start_agent(
    work: Path, port: int, device: str, url: str, cfg: CameraBenchConfig
) -> RunningAgent:
    camera = {"name": CAMERA, "url": url, "model": cfg.model, "fps": cfg.fps}
    config = write_agent_config(
        work / f"{device}.yaml",
        device,
        (cfg.model,),
        port=port,
        health_interval_s=1.0,
        extra={"cameras": [camera]},
    )
    log = work / f"{device}.log"
    return RunningAgent(device, spawn_agent(config, log=log, log_level="WARNING"), log)


def _source(client: Client, device: str) -> dict[str, Any]:
    with client.cond:
        health = client.health.get(device) or {}
    return dict(health.get("sources", {}).get(CAMERA, {}), uptime_s=health.get("uptime_s", 0.0))


def _window(
    scenario: str,
    scenes: list[FaceSample],
    cfg: CameraBenchConfig,
    work: Path,
    port: int,
    client: Client,
) -> dict[str, Any]:
    """One scenario: the agent's CPU and counters over `cfg.seconds` of a looping stream."""
    jpegs = [scenes[0].jpeg] if scenario == "still" else [s.jpeg for s in scenes[:MOVING_SCENES]]
    stream = MjpegStream(write_frames(work / scenario, jpegs), free_port(), cfg.fps, loop=True)
    stream.start()
    agent = _start_agent(work, port, f"bench-cam-{scenario}", stream.url, cfg)
    try:
        wait_online(client, agent.device, agent.proc, agent.log)
        capturing = lambda: _source(client, agent.device).get("frames", 0) > 0  # noqa: E731
        if not client.wait(capturing, READY_TIMEOUT_S):
            raise RuntimeError(
                f"camera not read within {READY_TIMEOUT_S:.0f} s:\n{tail(agent.log)}"
            )
        time.sleep(cfg.warmup_s)  # the window starts on a warm model and a running stream
        process = psutil.Process(agent.proc.pid)
        first, cpu0, t0 = _source(client, agent.device), process.cpu_times(), time.monotonic()
        time.sleep(cfg.seconds)
        last, cpu1, t1 = _source(client, agent.device), process.cpu_times(), time.monotonic()
    finally:
        stop_process(agent.proc)
        stream.stop()
    cpu_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    span = max(last["uptime_s"] - first["uptime_s"], 1e-9)  # the heartbeats' own window
    frames = last["frames"] - first["frames"]
    return {
        "scenario": scenario,
        "seconds": t1 - t0,
        "fps": frames / span,
        "inferred_per_s": (last["inferred"] - first["inferred"]) / span,
        "dropped": last["dropped"] - first["dropped"],
        "cpu_pct": 100.0 * cpu_s / (t1 - t0),
        "cpu_ms_per_frame": 1000.0 * cpu_s / (t1 - t0) * span / frames if frames else None,
    }


def _accuracy(
    scenes: list[FaceSample], cfg: CameraBenchConfig, work: Path, port: int, client: Client
) -> dict[str, Any]:
    """Every scene once (two frames each), then the results matched to the scenes in order."""
    from models.catalogue import load_catalogue
    from models.pipelines import load_pipeline

    stream = MjpegStream(
        write_frames(work / "accuracy", [s.jpeg for s in scenes], HOLD), free_port(), cfg.fps
    )
    agent = _start_agent(work, port, "bench-cam-accuracy", stream.url, cfg)
    try:
        wait_online(client, agent.device, agent.proc, agent.log)
        with client.cond:
            client.sourced.clear()
        stream.start()
        assert stream.proc is not None
        stream.proc.wait(timeout=len(scenes) * HOLD / cfg.fps + 60)
        frames = len(scenes) * HOLD
        answered = lambda: (  # noqa: E731
            _source(client, agent.device).get("frames", 0) >= frames
            and len(client.sourced) >= _source(client, agent.device).get("inferred", 0)
        )
        client.wait(answered, READY_TIMEOUT_S)
        with client.cond:
            results = list(client.sourced)
        inferred = _source(client, agent.device).get("inferred", 0)
    finally:
        stop_process(agent.proc)
        stream.stop()
    via_camera = scenes_found(scenes, results)
    pipeline = load_pipeline(cfg.model, load_catalogue(), None)
    reference = [found(s, pipeline.run(s.jpeg).model_dump(mode="json")["faces"]) for s in scenes]
    return {
        "scenes": len(scenes),
        "camera_found": sum(via_camera),
        "camera_pct": 100.0 * sum(via_camera) / len(scenes),
        "in_process_pct": 100.0 * sum(reference) / len(scenes),
        "inferred": inferred,
        "missed_scenes": [i for i, ok in enumerate(via_camera) if not ok],
        "missed_in_process": [i for i, ok in enumerate(reference) if not ok],
    }
