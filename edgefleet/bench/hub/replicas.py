"""`edgefleet bench hub --replicas 1,2,3`: fleet API throughput through nginx for N hub replicas
on one PostgreSQL, with the CPU each replica used.

The set-up is the tested production one (docs/deploy-production.md): one ingest replica with
the MQTT bridge (Mosquitto), N-1 API replicas without it, all `edgefleet hub` processes, and
Debian's nginx with `edgefleet proxy`'s configuration in front. `clients` threads of this
process send the dashboard's most common call (first page of the device list, 100 of
`fleet_devices`) through nginx for `seconds` (at most `max_requests`). Ingest is not part of
the curve: one replica holds the MQTT session whatever N is (its rate: the `ingest` table of
`bench hub`). Everything shares this machine's cores: the load generator and nginx too.
"""

from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.http import DEVICES, path
from edgefleet.bench.hub.seeding import seed
from edgefleet.bench.plots import bar_chart
from edgefleet.bench.report import (
    DEFAULT_OUT,
    Column,
    Report,
    Table,
    check_max,
    print_report,
    write_report,
)
from edgefleet.bench.stats import Summary
from edgefleet.procs.broker import broker_process
from edgefleet.procs.hub import ADMIN_KEY, HubProcess
from edgefleet.procs.nginx import nginx
from edgefleet.procs.postgres import postgres
from edgefleet.procs.process import cpu_seconds


@dataclass
class ReplicasBenchConfig:
    replicas: tuple[int, ...] = (1, 2, 3)
    fleet_devices: int = 10_000
    clients: int = 8  # concurrent request loops
    seconds: float = 20.0  # measured per replica count
    max_requests: int = 50_000  # bound on the measured requests per replica count
    warmup: int = 50
    out: Path = DEFAULT_OUT

    def validate(self) -> None:
        if not self.replicas or min(self.replicas) < 1:
            raise ValueError("--replicas: counts of 1 or more, e.g. 1,2,3")
        if self.clients < 1 or self.seconds <= 0 or self.max_requests < 1:
            raise ValueError("clients, seconds and max_requests must be positive")


def _load(url: str, cfg: ReplicasBenchConfig) -> tuple[int, int, list[float], float]:
    """(ok, failed, latencies ms, wall s) of `clients` loops on the first device page."""
    import httpx

    target = path(DEVICES)
    deadline = time.monotonic() + cfg.seconds
    lock = threading.Lock()
    latencies: list[float] = []
    failed = 0

    def loop() -> None:
        nonlocal failed
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for _ in range(cfg.warmup // cfg.clients + 1):
                client.get(target, params={"limit": 100})
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                r = client.get(target, params={"limit": 100})
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    if len(latencies) + failed >= cfg.max_requests:
                        return
                    if r.status_code == 200:
                        latencies.append(ms)
                    else:
                        failed += 1

    started = time.monotonic()
    with ThreadPoolExecutor(cfg.clients) as pool:
        list(pool.map(lambda _: loop(), range(cfg.clients)))
    return len(latencies), failed, latencies, time.monotonic() - started


def _measure(
    n: int, db: str, mqtt_port: int, work: Path, cfg: ReplicasBenchConfig
) -> dict[str, Any]:
    env = {"EDGEFLEET_DATABASE_URL": db, "EDGEFLEET_LOG_LEVEL": "WARNING"}
    hubs = [
        HubProcess(
            work / f"n{n}-replica-{i}",
            mqtt_port,
            cloud_models=(),
            extra_env=env if i == 0 else {**env, "EDGEFLEET_MQTT_ENABLED": "false"},
        )
        for i in range(n)
    ]
    try:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda hub: hub.start(timeout=120), hubs))
        api = [f"127.0.0.1:{h.port}" for h in hubs[1:]]
        with nginx([f"127.0.0.1:{hubs[0].port}"], api, work / f"n{n}-nginx") as url:
            pids = [h.proc.pid for h in hubs if h.proc is not None]
            before = [cpu_seconds(p) for p in pids]
            ok, failed, latencies, wall = _load(url, cfg)
            cpu = [(cpu_seconds(p) - b) / wall * 100 for p, b in zip(pids, before, strict=True)]
    finally:
        for hub in hubs:
            hub.terminate()
    if not latencies:
        raise RuntimeError(f"{n} replica(s): no request succeeded ({failed} failed)")
    s = Summary.of(latencies)
    return {
        "replicas": n,
        "requests": ok,
        "failed": failed,
        "rate": ok / wall,
        "p50": s.p50,
        "p99": s.p99,
        "cpu": " / ".join(f"{c:.0f}" for c in cpu),
        "cpu_total": sum(cpu),
    }


def run_replicas_bench(cfg: ReplicasBenchConfig) -> Report:
    report = Report(
        "hub-replicas",
        f"Fleet API through nginx, 1..{max(cfg.replicas)} hub replicas on PostgreSQL",
        config={k: v for k, v in vars(cfg).items() if k != "out"},
    )
    table = Table(
        "replicas",
        f"GET first device page (100 of {cfg.fleet_devices}), {cfg.clients} clients",
        [
            Column("replicas", "replicas", "{:d}"),
            Column("requests", "requests", "{:d}"),
            Column("failed", "failed", "{:d}"),
            Column("rate", "req/s", "{:.0f}"),
            Column("p50", "p50 ms"),
            Column("p99", "p99 ms"),
            Column("cpu", "CPU % per replica", justify="left"),
            Column("cpu_total", "CPU % all", "{:.0f}"),
        ],
    )
    with tempfile.TemporaryDirectory() as tmp, postgres() as db:
        work = Path(tmp)
        seed(db, cfg.fleet_devices)
        with broker_process("mosquitto", work / "broker") as mqtt_port:
            for n in cfg.replicas:
                row = _measure(n, db, mqtt_port, work, cfg)
                print(f"{n} replica(s): {row['rate']:.0f} req/s, CPU {row['cpu']} %", flush=True)
                table.rows.append(row)
    report.tables.append(table)
    report.checks += [
        check_max(f"{r['replicas']} replica(s): failed requests", r["failed"], 0, "")
        for r in table.rows
    ]
    report.notes.append(
        "Load generator, nginx, PostgreSQL, Mosquitto and the replicas share this machine's "
        "cores; one ingest replica whatever N (its rate: `bench hub`, ingest table)."
    )
    report.plots.append(
        bar_chart(
            cfg.out / "hub-replicas.png",
            [str(r["replicas"]) for r in table.rows],
            {"req/s": [r["rate"] for r in table.rows]},
            title="Fleet API throughput through nginx by replica count",
            ylabel="requests/s",
        )
    )
    return report


def main(cfg: ReplicasBenchConfig) -> Report:
    report = run_replicas_bench(cfg)
    print_report(report)
    print(f"report: {write_report(report, cfg.out)}")
    return report
