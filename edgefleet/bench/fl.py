"""`edgefleet bench fl`: federated learning on the engine-fault model (SPEC §6).

Live part (real MQTT, real HTTP, real SQL): a broker process (Mosquitto, else amqtt), the hub
on a free loopback port with SQLite, 100 simulated clients - each its own MQTT session
subscribed to its `cmd/fl-train`, training its non-IID engine partition and uploading over
HTTP. Measured: aggregation time per round (hub side, from SQL), bytes per update fp32 vs
int8, accuracy per round of the published versions.

Simulated part (same training and aggregation functions, in process, so many rounds and
variants fit in a minute): FedAvg on non-IID engines vs centralised training on the pooled
data vs local-only, DP noise levels, 2 of 10 clients poisoned under FedAvg vs robust
aggregation.
"""

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cloud_hub.serving import free_port
from edgefleet.bench.report import (
    DEFAULT_OUT,
    Column,
    Report,
    Table,
    check_max,
    check_min,
    print_report,
    write_report,
)

ADMIN_KEY = "efk_bench-admin-key-0123456789abcdef"


@dataclass(frozen=True)
class FlBenchConfig:
    out: Path = DEFAULT_OUT
    clients: int = 100
    live_rounds: int = 3
    sim_rounds: int = 30
    poison_rounds: int = 60  # 10 clients learn slower than 100: more rounds to converge
    records: int = 300
    local_epochs: int = 1
    learning_rate: float = 0.2
    noise_levels: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)
    plots: bool = True


@dataclass
class Sim:
    """In-process federated simulation over the engine partitions."""

    cfg: FlBenchConfig
    data: list[Any] = field(default_factory=list)
    test: Any = None

    def __post_init__(self) -> None:
        from models.datasets.engine import fleet, held_out

        self.data = fleet(self.cfg.clients, seed=0, n=self.cfg.records)
        self.test = held_out(4000)

    def acc(self, params: np.ndarray) -> float:
        from models.training import mlp
        from models.training.engine import SHAPE

        return 100.0 * mlp.accuracy(SHAPE, params, self.test.x, self.test.y)

    def fedavg(
        self,
        clients: list[Any],
        rounds: int,
        *,
        aggregation: str = "fedavg",
        poisoned: int = 0,
        noise: float = 0.0,
        clip: float = 1.0,
    ) -> list[float]:
        from cloud_hub.federated import aggregate
        from cloud_hub.federated.strategy import ClientUpdate, make_strategy
        from models.training import mlp
        from models.training import updates as wire
        from models.training.engine import SHAPE

        params = mlp.init_params(SHAPE, 0)
        strategy = make_strategy(aggregation, trim=0.2)
        rng = np.random.default_rng(7)
        curve = []
        for r in range(rounds):
            ups = []
            for i, d in enumerate(clients):
                with np.errstate(over="ignore", invalid="ignore"):
                    delta = (
                        mlp.train(
                            SHAPE,
                            params,
                            d.x,
                            d.y,
                            epochs=self.cfg.local_epochs,
                            lr=self.cfg.learning_rate,
                            seed=r * 1000 + i,
                        )
                        - params
                    )
                if i < poisoned:  # model poisoning: a large flipped update
                    delta = -10.0 * delta
                if noise > 0 or clip < 1.0:
                    delta = wire.clip_l2(delta, clip)
                ups.append(ClientUpdate(d.engine_id, delta, 1 if noise > 0 else len(d)))
            with np.errstate(over="ignore", invalid="ignore"):  # poisoned runs may diverge
                step = strategy.aggregate_train(ups)
            if noise > 0:
                step = step + aggregate.gaussian_noise(step.size, noise * clip / len(ups), rng)
            params = (params + step).astype(np.float32)
            curve.append(self.acc(params))
        return curve

    def centralised(self, rounds: int) -> list[float]:
        from models.training import mlp
        from models.training.engine import SHAPE

        x = np.concatenate([d.x for d in self.data])
        y = np.concatenate([d.y for d in self.data])
        params, curve = mlp.init_params(SHAPE, 0), []
        for r in range(rounds):
            params = mlp.train(SHAPE, params, x, y, epochs=1, lr=self.cfg.learning_rate, seed=r)
            curve.append(self.acc(params))
        return curve

    def local_only(self) -> float:
        from models.training import mlp
        from models.training.engine import SHAPE

        return float(
            np.mean(
                [
                    self.acc(
                        mlp.train(
                            SHAPE,
                            mlp.init_params(SHAPE, 0),
                            d.x,
                            d.y,
                            epochs=self.cfg.sim_rounds,
                            lr=self.cfg.learning_rate,
                        )
                    )
                    for d in self.data
                ]
            )
        )


# --- the live part ---------------------------------------------------------------------


def _start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    port = free_port()
    if mosquitto := shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    ):
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\n"
            "set_tcp_nodelay true\nmax_queued_messages 10000\n"
        )
        proc = subprocess.Popen(
            [mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        name = "mosquitto"
    else:
        edgefleet = str(Path(sys.executable).with_name("edgefleet"))
        proc = subprocess.Popen(
            [edgefleet, "broker", "--host", "127.0.0.1", "--port", str(port), "--allow-anonymous"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        name = "amqtt"
    for _ in range(200):  # bounded: 10 s
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port, name
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{name} did not start on port {port}")


async def _client_loop(
    device: str,
    secret: str,
    hub_url: str,
    port: int,
    index: int,
    cfg: FlBenchConfig,
    ready: asyncio.Event,
) -> None:
    import aiomqtt

    from contract import Command, Topics, decode
    from edge_agent.config import parse_config
    from edge_agent.federated import FederatedClient

    config = parse_config(
        {
            "device_id": device,
            "models": ["engine-fault"],
            "hub": {"url": hub_url},
            "broker": {"port": port, "username": device, "password": secret},
            "federated": {"enabled": True, "engine_index": index, "records": cfg.records},
        }
    )
    client = FederatedClient(config)
    _ = client.data
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-{device}") as mqtt:
        await mqtt.subscribe(Topics().cmd(device, "fl-train"), qos=1)
        ready.set()
        async for message in mqtt.messages:
            command = decode(Command, bytes(message.payload))  # type: ignore[arg-type]
            await client.handle(command.args)


async def _live(cfg: FlBenchConfig, workdir: Path) -> dict[str, Any]:
    import httpx

    from cloud_hub.core.config import Settings
    from cloud_hub.main import create_app
    from cloud_hub.serving import served

    broker, mqtt_port, broker_name = _start_broker(workdir)
    settings = Settings(
        data_dir=workdir / "hub",
        admin_api_key=ADMIN_KEY,
        mqtt_port=mqtt_port,
        mqtt_username=None,
        port=free_port(),
        log_json=False,
        log_level="WARNING",
        fl_tick_s=0.2,
    )
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    rows: list[dict[str, Any]] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        async with (
            served(create_app(settings), port=settings.port) as url,
            httpx.AsyncClient(base_url=url, headers=admin, timeout=60) as http,
        ):
            try:
                devices = []
                for i in range(cfg.clients):
                    device = f"engine-{i:03d}"
                    r = await http.post(
                        "/api/v1/devices", json={"id": device, "capabilities": ["engine-fault"]}
                    )
                    r.raise_for_status()
                    ready = asyncio.Event()
                    tasks.append(
                        asyncio.create_task(
                            _client_loop(
                                device, r.json()["device_secret"], url, mqtt_port, i, cfg, ready
                            )
                        )
                    )
                    await asyncio.wait_for(ready.wait(), 30)
                    devices.append(device)
                for r_i in range(cfg.live_rounds):
                    for quant in ("none", "int8"):
                        r = await http.post(
                            "/api/v1/fl/rounds",
                            json={
                                "devices": devices,
                                "min_clients": cfg.clients,
                                "deadline_s": 300,
                                "quantization": quant,
                                "local_epochs": cfg.local_epochs,
                                "learning_rate": cfg.learning_rate,
                                "deploy": "none",
                                "seed": r_i,
                            },
                        )
                        r.raise_for_status()
                        round_id = r.json()["id"]
                        t0 = time.perf_counter()
                        for _ in range(6000):  # bounded: 300 s
                            body = (await http.get(f"/api/v1/fl/rounds/{round_id}")).json()
                            if body["state"] in ("published", "failed"):
                                break
                            await asyncio.sleep(0.05)
                        updates = (await http.get(f"/api/v1/fl/rounds/{round_id}/updates")).json()
                        size = float(np.mean([u["size_bytes"] for u in updates]))
                        rows.append(
                            {
                                "round": round_id,
                                "quantization": quant,
                                "state": body["state"],
                                "clients": body["updates"]["accepted"],
                                "aggregation_ms": body["aggregation_ms"],
                                "round_s": time.perf_counter() - t0,
                                "bytes_per_update": size,
                                "accuracy": 100.0 * body["metrics"].get("validation_accuracy", 0.0),
                            }
                        )
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        broker.kill()
        broker.wait()
    return {"rows": rows, "broker": broker_name}


def run_fl_bench(cfg: FlBenchConfig) -> Report:
    report = Report(
        "fl",
        "Federated learning: engine-fault, non-IID engines",
        config={k: str(v) for k, v in cfg.__dict__.items()},
    )
    with tempfile.TemporaryDirectory(prefix="edgefleet-bench-fl-") as tmp:
        live = asyncio.run(_live(cfg, Path(tmp)))
    report.notes.append(
        f"live rounds: {cfg.clients} clients over {live['broker']} + HTTP + "
        "SQLite; aggregation_ms measured by the hub (load, aggregate, export "
        "ONNX, sign, register)"
    )
    report.tables.append(
        Table(
            "live",
            "Live rounds (real MQTT, HTTP, SQL)",
            [
                Column("round", "round", "{}"),
                Column("quantization", "update", "{}"),
                Column("clients", "clients", "{}"),
                Column("aggregation_ms", "aggregation ms"),
                Column("round_s", "round s"),
                Column("bytes_per_update", "bytes/update", "{:.0f}"),
                Column("accuracy", "accuracy %"),
            ],
            live["rows"],
        )
    )
    sim = Sim(cfg)
    rounds = cfg.sim_rounds
    fed = sim.fedavg(sim.data, rounds)
    central = sim.centralised(rounds)
    local = sim.local_only()
    ten = sim.data[:10]
    prounds = cfg.poison_rounds
    clean10 = sim.fedavg(ten, prounds)[-1]
    poisoned = {
        agg: sim.fedavg(ten, prounds, aggregation=agg, poisoned=2)[-1]
        for agg in ("fedavg", "trimmed_mean", "median")
    }
    robust_clean = {
        agg: sim.fedavg(ten, prounds, aggregation=agg)[-1] for agg in ("trimmed_mean", "median")
    }
    dp = {z: sim.fedavg(sim.data, rounds, noise=z, clip=1.0)[-1] for z in cfg.noise_levels}
    report.tables.append(
        Table(
            "accuracy",
            f"Accuracy after {rounds} rounds (held-out set)",
            [Column("setting", "setting", "{}", "left"), Column("accuracy", "accuracy %")],
            [
                {"setting": f"centralised (pooled data, {rounds} epochs)", "accuracy": central[-1]},
                {"setting": f"FedAvg, {cfg.clients} non-IID clients", "accuracy": fed[-1]},
                {"setting": "local-only (mean over clients)", "accuracy": local},
                {"setting": f"10 clients FedAvg, clean ({prounds} rounds)", "accuracy": clean10},
                *[
                    {"setting": f"10 clients, 2 poisoned, {k} ({prounds} rounds)", "accuracy": v}
                    for k, v in poisoned.items()
                ],
                *[
                    {"setting": f"10 clients, clean, {k} ({prounds} rounds)", "accuracy": v}
                    for k, v in robust_clean.items()
                ],
                *[
                    {"setting": f"DP noise multiplier {z} (clip 1.0)", "accuracy": v}
                    for z, v in dp.items()
                ],
            ],
        )
    )
    report.extra["curves"] = {"fedavg": fed, "centralised": central}
    live_rows = [r for r in live["rows"] if r["state"] == "published"]
    fp32 = [r["bytes_per_update"] for r in live_rows if r["quantization"] == "none"]
    int8 = [r["bytes_per_update"] for r in live_rows if r["quantization"] == "int8"]
    agg = max((float(r["aggregation_ms"]) for r in live_rows), default=None)
    best_robust = float(max(poisoned["trimmed_mean"], poisoned["median"]))
    fed_end, central_end, clean10 = float(fed[-1]), float(central[-1]), float(clean10)
    report.checks += [
        check_max(
            f"aggregation, {cfg.clients} clients (worst round)",
            None if agg is None else agg / 1000.0,
            2.0,
            "s",
        ),
        check_max(
            "int8 / fp32 bytes per update",
            float(100.0 * np.mean(int8) / np.mean(fp32)) if fp32 and int8 else None,
            30.0,
            "%",
        ),
        check_max("centralised - FedAvg accuracy", central_end - fed_end, 3.0, "points"),
        check_min(
            "FedAvg - local-only accuracy", fed_end - float(local), 5.0, "points", "clearly above"
        ),
        check_max("clean - robust (2 of 10 poisoned)", clean10 - best_robust, 1.0, "points"),
        check_min(
            "clean - FedAvg (2 of 10 poisoned)",
            clean10 - float(poisoned["fedavg"]),
            5.0,
            "points",
            "visibly degrades",
        ),
        check_min("live rounds published", float(len(live_rows)), 2 * cfg.live_rounds),
    ]
    if cfg.plots:
        report.plots += _plots(cfg, fed, central, local, dp, poisoned, clean10, live_rows)
    return report


def _plots(
    cfg: FlBenchConfig,
    fed: list[float],
    central: list[float],
    local: float,
    dp: dict[float, float],
    poisoned: dict[str, float],
    clean10: float,
    live: list[dict[str, Any]],
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgefleet.bench.report import bar_chart

    out = []
    fig, ax = plt.subplots(figsize=(6.5, 4))
    xs = range(1, len(fed) + 1)
    ax.plot(xs, fed, label=f"FedAvg ({cfg.clients} non-IID clients)")
    ax.plot(xs, central, label="centralised (pooled)")
    ax.axhline(local, color="gray", linestyle="--", label="local-only (mean)")
    ax.set_xlabel("round (centralised: epoch)")
    ax.set_ylabel("accuracy %")
    ax.set_title("engine-fault accuracy per round")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = cfg.out / "fl_accuracy.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    out.append(path)
    out.append(
        bar_chart(
            cfg.out / "fl_dp.png",
            [str(z) for z in dp],
            {"accuracy %": list(dp.values())},
            title="DP noise multiplier vs accuracy",
            ylabel="accuracy %",
        )
    )
    out.append(
        bar_chart(
            cfg.out / "fl_poisoning.png",
            ["clean", *poisoned],
            {"accuracy %": [clean10, *poisoned.values()]},
            title="2 of 10 clients poisoned",
            ylabel="accuracy %",
        )
    )
    if live:
        out.append(
            bar_chart(
                cfg.out / "fl_bytes.png",
                ["fp32", "int8"],
                {
                    "bytes/update": [
                        float(
                            np.mean([r["bytes_per_update"] for r in live if r["quantization"] == q])
                        )
                        for q in ("none", "int8")
                    ]
                },
                title="bytes per update",
                ylabel="bytes",
            )
        )
    return out


def main(cfg: FlBenchConfig) -> bool:
    report = run_fl_bench(cfg)
    print_report(report)
    print(f"report: {write_report(report, cfg.out)}")
    return report.passed


if __name__ == "__main__":
    raise SystemExit(0 if main(FlBenchConfig()) else 1)
