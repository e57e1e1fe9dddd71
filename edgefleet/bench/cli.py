"""`edgefleet bench`: one subcommand per benchmark; each prints a table, writes JSON and PNGs.

Subcommands import their benchmark module only when run, so `edgefleet bench --help` is fast
and a benchmark's dependencies (brokers, hub, matplotlib) load only when needed.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from edgefleet.bench.report import DEFAULT_OUT

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Benchmarks against the targets in docs/benchmarks.md: table, JSON and PNG in --out.",
)

OutOption = Annotated[
    Path, typer.Option("--out", "-o", help="Directory for the JSON report and PNG plots")
]


def _run(name: str, config: Any, run: Callable[[], Any]) -> None:
    """Validate `config` (exit 2 with its message), run, exit 1 when a target failed."""
    try:
        config.validate()
    except ValueError as exc:
        typer.echo(f"edgefleet bench {name}: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(0 if run().passed else 1)


@app.callback()
def bench() -> None:
    """Benchmarks: print a table, write JSON, draw PNG plots."""


@app.command("edge")
def edge(
    out: OutOption = DEFAULT_OUT,
    models: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model id (repeatable)", show_default=False),
    ] = None,
    brokers: Annotated[
        list[str] | None,
        typer.Option(
            "--broker", "-b", help="amqtt and/or mosquitto (repeatable)", show_default=False
        ),
    ] = None,
    requests: Annotated[
        int, typer.Option(help="Sequential requests per level (one at a time) for p50/p99")
    ] = 300,
    throughput_requests: Annotated[
        int, typer.Option(help="Requests per pipelined throughput run")
    ] = 600,
    window: Annotated[int, typer.Option(help="In-flight requests while pipelining")] = 16,
    warmup: Annotated[int, typer.Option(help="Unmeasured requests before each level")] = 20,
    cold_starts: Annotated[int, typer.Option(help="Agent cold starts per broker")] = 3,
    time_limit: Annotated[
        float, typer.Option(help="Seconds cap for each measurement (counts stop early)")
    ] = 30.0,
    mqtt: Annotated[
        bool, typer.Option("--mqtt/--no-mqtt", help="Also measure the full MQTT path")
    ] = True,
    workers: Annotated[
        list[int] | None,
        typer.Option(help="Agent workers per model in the MQTT levels (repeatable)"),
    ] = None,
    rounds: Annotated[
        int,
        typer.Option(help="Interleaved rounds of pipelined bursts (in-process, each agent)"),
    ] = 5,
    load_requests: Annotated[
        int, typer.Option(help="Pipelined requests for the agent's RSS under load (0: skip)")
    ] = 2000,
    load_stress: Annotated[
        int, typer.Option(help="Busy-loop processes competing during that run")
    ] = 2,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw PNG plots")] = True,
) -> None:
    """Edge pipeline overhead: invoke(), in-process compute, and MQTT on loopback.

    Per model: raw invoke() latency, in-process decode+pre+invoke+post, and request->result
    through a real agent process on amqtt and Mosquitto; sequential p50/p99, pipelined
    throughput, MQTT/in-process ratios, agent RSS and cold start. Exits 1 if a target fails.
    """
    from edgefleet.bench.edge import EdgeBenchConfig, run_edge_bench

    config = EdgeBenchConfig(
        models=tuple(models or EdgeBenchConfig.models),
        brokers=tuple(brokers or EdgeBenchConfig.brokers),
        requests=requests,
        throughput_requests=throughput_requests,
        window=window,
        warmup=warmup,
        cold_starts=cold_starts,
        time_limit_s=time_limit,
        mqtt=mqtt,
        plots=plots,
        workers=tuple(workers or EdgeBenchConfig.workers),
        rounds=rounds,
        load_requests=load_requests,
        load_stress=load_stress,
    )
    _run("edge", config, lambda: run_edge_bench(config, out))


@app.command("cloud")
def cloud(
    out: OutOption = DEFAULT_OUT,
    models: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model id (repeatable)", show_default=False),
    ] = None,
    batch: Annotated[int, typer.Option(help="The batched run's max batch")] = 8,
    images: Annotated[int, typer.Option(help="Requests submitted at once per round")] = 64,
    rounds: Annotated[int, typer.Option(help="Measured rounds per batch size")] = 3,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw PNG plots")] = True,
) -> None:
    """The hub's cloud inference through its batcher: requests/s and requests per CPU-second,
    one at a time vs batched. Exits 1 if a target fails."""
    from edgefleet.bench.cloud import CloudBenchConfig, run_cloud_bench

    config = CloudBenchConfig(
        models=tuple(models or CloudBenchConfig.models),
        batch=batch,
        images=images,
        rounds=rounds,
        plots=plots,
    )
    _run("cloud", config, lambda: run_cloud_bench(config, out))


@app.command("intent")
def intent(
    out: OutOption = DEFAULT_OUT,
    clips: Annotated[int, typer.Option(help="Clips per split")] = 120,
    splits: Annotated[
        list[str] | None,
        typer.Option(
            "--split",
            help="tuning, voices, phrasings, held_out, flite, not_commands (repeatable; all)",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Data set seed")] = 31,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw PNG plots")] = True,
    model: Annotated[
        str, typer.Option(help="The hub's intent model: voice-command, voice-command-whisper")
    ] = "voice-command",
) -> None:
    """The hub's voice-command model on generated spoken commands: intent right, wrong or not
    understood per split (held-out voices and phrasings). Exits 1 if a target fails."""
    from edgefleet.bench.intent import IntentBenchConfig, run_intent_bench

    config = IntentBenchConfig(
        clips=clips, splits=tuple(splits or ()), seed=seed, plots=plots, model=model
    )
    _run("intent", config, lambda: run_intent_bench(config, out))


@app.command("camera")
def camera(
    out: OutOption = DEFAULT_OUT,
    model: Annotated[str, typer.Option("--model", "-m", help="Face detector")] = "face-detect-full",
    fps: Annotated[float, typer.Option(help="Stream rate and the camera's fps cap")] = 10.0,
    seconds: Annotated[float, typer.Option(help="Measured window per scenario")] = 20.0,
    warmup: Annotated[float, typer.Option(help="Seconds before each window")] = 3.0,
    scenes: Annotated[int, typer.Option(help="Labelled scenes of the accuracy pass")] = 60,
    broker: Annotated[str, typer.Option(help="auto, amqtt or mosquitto")] = "auto",
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw PNG plots")] = True,
) -> None:
    """One camera read by a real agent: CPU of a still vs a moving scene (motion gating), and
    faces found through the capture path. Exits 1 if a target fails."""
    from edgefleet.bench.camera import CameraBenchConfig, run_camera_bench

    config = CameraBenchConfig(
        model=model,
        fps=fps,
        seconds=seconds,
        warmup_s=warmup,
        scenes=scenes,
        broker=broker,
        plots=plots,
    )
    _run("camera", config, lambda: run_camera_bench(config, out))


@app.command("offload")
def offload(
    out: OutOption = DEFAULT_OUT,
    faces: Annotated[int, typer.Option(help="Labelled images (vision data set)")] = 500,
    clips: Annotated[int, typer.Option(help="Labelled espeak-ng clips (voice; 0: none)")] = 500,
    readings: Annotated[int, typer.Option(help="Labelled engine readings (0: none)")] = 500,
    warmup: Annotated[int, typer.Option(help="Unmeasured requests per mode and data set")] = 4,
    scenarios: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario",
            "-s",
            help="idle, cpu, delay, down (the default: all four); gateway (repeatable)",
            show_default=False,
        ),
    ] = None,
    broker: Annotated[str, typer.Option(help="mosquitto, amqtt or auto")] = "auto",
    time_limit: Annotated[
        float, typer.Option(help="Seconds cap per scenario and data set (counts stop early)")
    ] = 400.0,
    voice_band: Annotated[
        tuple[float, float] | None,
        typer.Option(
            help="Voice cascade: the band rule on the doubt head, LOW HIGH of 1 - doubt "
            "(default: the agent's verify-and-rescue rule)",
            show_default=False,
        ),
    ] = None,
    clip_voice: Annotated[
        str | None,
        typer.Option(
            help="Speak every voice clip with this voice instead (e.g. flite:kal16, the one "
            "no model was tuned on: how the voice modes do on a voice unlike the tuning's)",
            show_default=False,
        ),
    ] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw PNG plots")] = True,
) -> None:
    """Collaborative table: edge-only, cloud-only, adaptive, cascade x idle, CPU saturated,
    +300 ms, cloud down, on faces, speech and engine readings; p50/p99, accuracy on labelled
    data, bytes sent, model size, device CPU and energy. Exits 1 if a target fails."""
    from edgefleet.bench.offload import SCENARIOS, OffloadBenchConfig, run_offload_bench

    config = OffloadBenchConfig(
        faces=faces,
        clips=clips,
        readings=readings,
        warmup=warmup,
        scenarios=tuple(scenarios or SCENARIOS),
        broker=broker,
        time_limit_s=time_limit,
        voice_band=voice_band,
        clip_voice=clip_voice,
        plots=plots,
    )
    _run("offload", config, lambda: run_offload_bench(config, out))


@app.command("hub")
def hub(
    out: OutOption = DEFAULT_OUT,
    replicas: Annotated[
        str | None,
        typer.Option(
            help="Instead: fleet API throughput through nginx for these replica counts, "
            "e.g. 1,2,3 (PostgreSQL, Mosquitto, real hub processes)"
        ),
    ] = None,
    seconds: Annotated[float, typer.Option(help="--replicas: measured seconds per count")] = 20,
    clients: Annotated[int, typer.Option(help="--replicas: concurrent request loops")] = 8,
) -> None:
    """Hub: health ingest (SQLite/PostgreSQL x Mosquitto/amqtt), fleet API p99 at 10k devices;
    with --replicas, the scale-out curve instead."""
    if replicas is not None:
        from edgefleet.bench.hub.replicas import ReplicasBenchConfig
        from edgefleet.bench.hub.replicas import main as replicas_main

        try:
            counts = tuple(int(n) for n in replicas.split(","))
        except ValueError:
            typer.echo(f"edgefleet bench hub: --replicas {replicas!r}: e.g. 1,2,3", err=True)
            raise typer.Exit(2) from None
        config = ReplicasBenchConfig(replicas=counts, seconds=seconds, clients=clients, out=out)
        _run("hub", config, lambda: replicas_main(config))
    from edgefleet.bench.hub import HubBenchConfig, main

    raise typer.Exit(0 if main(HubBenchConfig(out=out)) else 1)


@app.command("evolve")
def evolve(
    out: OutOption = DEFAULT_OUT,
    rounds: Annotated[int, typer.Option(help="Co-evolution rounds")] = 10,
    devices: Annotated[int, typer.Option(help="Devices, each with its own engine")] = 10,
    readings: Annotated[int, typer.Option(help="New readings per device and round")] = 200,
    band: Annotated[float, typer.Option(help="Cascade band high: unsure readings ask")] = 0.6,
    spot_checks: Annotated[
        float, typer.Option(help="Share of confident readings also sent to the hub")
    ] = 0.1,
    vision: Annotated[
        bool, typer.Option("--vision/--no-vision", help="Also the vision task (minutes)")
    ] = True,
    vision_images: Annotated[int, typer.Option(help="vision: new images per device, round")] = 10,
    vision_test: Annotated[int, typer.Option(help="vision: held-out test images")] = 200,
    voice: Annotated[
        bool, typer.Option("--voice/--no-voice", help="Also the voice task (espeak-ng clips)")
    ] = True,
    voice_clips: Annotated[int, typer.Option(help="voice: new clips per device, round")] = 20,
    voice_test: Annotated[int, typer.Option(help="voice: held-out test clips")] = 500,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw PNG plots")] = True,
) -> None:
    """Co-evolution, simulated: devices learn from the hub's answers to what they escalated
    (distillation + FedAvg + the hub's quality gate); accuracy and cloud share per round, for
    engine faults (the device's MLP), faces and wake words (trainable heads on frozen models)."""
    from edgefleet.bench.evolve import EvolveBenchConfig, main

    config = EvolveBenchConfig(
        out=out,
        rounds=rounds,
        devices=devices,
        readings=readings,
        band=band,
        spot_checks=spot_checks,
        vision=vision,
        vision_images=vision_images,
        vision_test=vision_test,
        voice=voice,
        voice_clips=voice_clips,
        voice_test=voice_test,
        plots=plots,
    )
    _run("evolve", config, lambda: main(config))


@app.command("fl")
def fl(
    out: OutOption = DEFAULT_OUT,
    clients: Annotated[int, typer.Option(help="Simulated clients (live and simulated)")] = 100,
    live_rounds: Annotated[int, typer.Option(help="Live rounds per update encoding")] = 3,
    sim_rounds: Annotated[int, typer.Option(help="Simulated FedAvg rounds")] = 30,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw PNG plots")] = True,
) -> None:
    """Federated: 100 clients over real MQTT/HTTP/SQL; FedAvg vs centralised vs local-only,
    int8 vs fp32 bytes, DP noise, poisoned clients vs robust aggregation."""
    from edgefleet.bench.fl import FlBenchConfig, main

    config = FlBenchConfig(
        out=out, clients=clients, live_rounds=live_rounds, sim_rounds=sim_rounds, plots=plots
    )
    raise typer.Exit(0 if main(config) else 1)
