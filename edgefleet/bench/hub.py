"""`edgefleet bench hub`: MQTT health ingest into SQL, and fleet API latency at 10,000 devices.

Ingest: simulated devices (a separate process, paho, QoS 0) publish heartbeats through a real
broker (Mosquitto and/or the embedded amqtt) to a real hub (uvicorn, its MQTT bridge and SQL
writer), into SQLite and/or a throwaway PostgreSQL 15 cluster; the rate is rows committed per
second from the first to the last message. A broker-less row measures the writer alone.
Fleet API: 10,000 registered devices, sequential HTTP requests over loopback; p50/p99 per call.
"""

import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cloud_hub.serving import free_port
from edgefleet.bench.report import (
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

PG_BIN = Path(os.environ.get("EDGEFLEET_PG_BIN", "/usr/lib/postgresql/15/bin"))
ADMIN = "efk_bench-admin-key-0123456789abcdef"


@dataclass
class HubBenchConfig:
    databases: tuple[str, ...] = ("sqlite", "postgresql")
    brokers: tuple[str, ...] = ("mosquitto", "amqtt")
    devices: int = 200
    messages: int = 40_000
    fleet_devices: int = 10_000
    requests: int = 300
    out: Path = Path("bench-results")
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- components
@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port (as `postgres` under root)."""
    base = Path(tempfile.mkdtemp(prefix="edgefleet-bench-pg-"))
    owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if owner:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        [
            *owner,
            str(PG_BIN / "initdb"),
            "-D",
            str(base / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c synchronous_commit=off"
    subprocess.run(
        [
            *owner,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(base / "data"),
            "-l",
            str(base / "log"),
            "-w",
            "-o",
            opts,
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*owner, str(PG_BIN / "pg_ctl"), "-D", str(base / "data"), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'hub.db'}"
    else:
        with postgres() as url:
            yield url


@contextlib.contextmanager
def broker(kind: str, workdir: Path) -> Iterator[int]:
    port = free_port()
    if kind == "mosquitto":
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n"
        )
        argv = [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)]
    else:
        exe = str(Path(sys.executable).with_name("edgefleet"))
        argv = [exe, "broker", "--host", "127.0.0.1", "--port", str(port), "--allow-anonymous"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import socket

        for _ in range(300):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def seed(url: str, n: int) -> list[str]:
    """Register n devices straight into a migrated database (tags, site, capabilities)."""
    from sqlalchemy import insert

    from cloud_hub.core.config import Settings
    from cloud_hub.core.db import Database, make_engine, upgrade
    from cloud_hub.core.security import digest
    from cloud_hub.db import tables as t

    engine = make_engine(Settings(database_url=url))
    upgrade(engine)
    now = datetime.now(UTC)
    ids = [f"dev-{i:05d}" for i in range(n)]
    states = ("online", "degraded", "offline", "lost")
    with Database(engine).session(write=True) as s:
        s.execute(
            insert(t.Device),
            [
                {
                    "id": d,
                    "name": f"Device {i}",
                    "site": f"site-{i % 50}",
                    "hardware": "rpi4",
                    "agent_version": "0.1.0",
                    "meta": {},
                    "service_meta": {},
                    "secret_hash": digest(d),
                    "created_at": now,
                    "updated_at": now,
                    "state": states[i % 4],
                    "state_since": now,
                }
                for i, d in enumerate(ids)
            ],
        )
        s.execute(
            insert(t.DeviceTag),
            [{"device_id": d, "tag": f"group-{i % 100}"} for i, d in enumerate(ids)],
        )
        s.execute(
            insert(t.DeviceCapability),
            [
                {"device_id": d, "model": "face-detect-lite" if i % 3 else "wakeword-lite"}
                for i, d in enumerate(ids)
            ],
        )
    engine.dispose()
    return ids


@contextlib.contextmanager
def hub(url: str, workdir: Path, mqtt_port: int | None) -> Iterator[tuple[Any, int]]:
    """The real app under uvicorn in a thread; yields (app, http port)."""
    import uvicorn

    from cloud_hub.core.config import Settings
    from cloud_hub.main import create_app

    settings = Settings(
        database_url=url,
        data_dir=workdir,
        admin_api_key=ADMIN,
        mqtt_enabled=mqtt_port is not None,
        mqtt_port=mqtt_port or 1883,
        mqtt_username=None,
        cloud_models=[],
        log_level="WARNING",
        mqtt_client_id=f"bench-hub-{os.getpid()}",
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, name="bench-hub", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    if mqtt_port is not None:
        while not app.state.bridge.connected.is_set():
            time.sleep(0.02)
    try:
        yield app, port
    finally:
        server.should_exit = True
        thread.join(30)


# ---------------------------------------------------------------------------- ingest
def _publish(port: int, devices: list[str], messages: int, ready: Any) -> None:
    """Simulated fleet in its own process: QoS 0 heartbeats, round robin over devices."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from contract import Health, Topics, encode

    topics = Topics()
    base = datetime.now(UTC)
    payloads = [
        (
            topics.health(devices[i % len(devices)]),
            encode(
                Health(
                    cpu=0.2,
                    mem=0.3,
                    queue_depth=0,
                    uptime_s=i,
                    seq=i,
                    rtt_ms=12.0,
                    ts=base + timedelta(milliseconds=i),
                )
            ),
        )
        for i in range(messages)
    ]
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}", protocol=paho.MQTTv311
    )
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    ready.set()
    for i, (topic, payload) in enumerate(payloads):
        client.publish(topic, payload, qos=0)
        if i % 2000 == 1999:
            time.sleep(0)  # let the network thread flush
    time.sleep(1)
    client.loop_stop()
    client.disconnect()


def _ingest_rate(writer: Any, total: int, timeout: float) -> tuple[float, int]:
    start_count = writer.processed
    while writer.processed == start_count:
        time.sleep(0.001)
    t0, n0 = time.perf_counter(), writer.processed
    deadline = time.monotonic() + timeout
    while writer.processed < start_count + total and time.monotonic() < deadline:
        writer.wait_processed(start_count + total, 0.5)
    elapsed = time.perf_counter() - t0
    done = writer.processed - start_count
    return (done - (n0 - start_count)) / elapsed if elapsed else 0.0, done


def _count_rows(app: Any) -> int:
    from sqlalchemy import func, select

    from cloud_hub.db import tables as t

    with app.state.db.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(t.HealthSample)) or 0)


def ingest_run(db_kind: str, broker_kind: str | None, cfg: HubBenchConfig) -> dict[str, Any]:
    from cloud_hub.ingest.writer import Inbound
    from contract import Health, Topics, encode

    with tempfile.TemporaryDirectory() as tmp, database(db_kind, Path(tmp)) as url:
        devices = seed(url, cfg.devices)
        if broker_kind is None:  # the writer alone: SQL capacity without MQTT
            with hub(url, Path(tmp), None) as (app, _):
                from cloud_hub.core.metrics import HubMetrics
                from cloud_hub.ingest.writer import IngestWriter

                writer = IngestWriter(app.state.db, app.state.settings, HubMetrics())
                writer.start()
                topics, base = Topics(), datetime.now(UTC)
                msgs = [
                    Inbound(
                        topics.health(devices[i % len(devices)]),
                        encode(
                            Health(
                                cpu=0.2,
                                mem=0.3,
                                queue_depth=0,
                                uptime_s=i,
                                seq=i,
                                ts=base + timedelta(milliseconds=i),
                            )
                        ),
                        time.time(),
                    )
                    for i in range(cfg.messages)
                ]
                t0 = time.perf_counter()
                for m in msgs:
                    writer.put(m)
                writer.wait_processed(cfg.messages, 120)
                rate = cfg.messages / (time.perf_counter() - t0)
                writer.stop()
                rows = _count_rows(app)
            return {
                "database": db_kind,
                "broker": "none (writer only)",
                "messages": cfg.messages,
                "rows": rows,
                "rate": rate,
            }
        with broker(broker_kind, Path(tmp)) as port, hub(url, Path(tmp), port) as (app, _):
            ctx = multiprocessing.get_context("spawn")
            ready = ctx.Event()
            proc = ctx.Process(target=_publish, args=(port, devices, cfg.messages, ready))
            proc.start()
            ready.wait(60)
            rate, _done = _ingest_rate(app.state.writer, cfg.messages, timeout=120)
            proc.join(60)
            rows = _count_rows(app)
        return {
            "database": db_kind,
            "broker": broker_kind,
            "messages": cfg.messages,
            "rows": rows,
            "rate": rate,
        }


# ---------------------------------------------------------------------------- fleet API
def fleet_run(db_kind: str, cfg: HubBenchConfig) -> list[dict[str, Any]]:
    import httpx

    with tempfile.TemporaryDirectory() as tmp, database(db_kind, Path(tmp)) as url:
        seed(url, cfg.fleet_devices)
        with (
            hub(url, Path(tmp), None) as (_, port),
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {ADMIN}"}
            ) as client,
        ):
            mid = f"dev-{cfg.fleet_devices // 2:05d}"
            calls: dict[str, tuple[str, dict[str, Any]]] = {
                "list first page (100)": ("/api/v1/devices", {"limit": 100}),
                "list page via cursor": ("/api/v1/devices", {"limit": 100, "cursor": mid}),
                "filter site": ("/api/v1/devices", {"site": "site-7"}),
                "filter tag": ("/api/v1/devices", {"tag": "group-42"}),
                "filter state": ("/api/v1/devices", {"state": "lost", "limit": 100}),
                "filter capability+site": (
                    "/api/v1/devices",
                    {"capability": "wakeword-lite", "site": "site-3"},
                ),
                "search q": ("/api/v1/devices", {"q": "dev-0999"}),
                "get one": (f"/api/v1/devices/{mid}", {}),
                "fleet summary": ("/api/v1/fleet/summary", {}),
            }
            rows = []
            for name, (path, params) in calls.items():
                for _ in range(10):
                    client.get(path, params=params).raise_for_status()
                times = []
                for _ in range(cfg.requests):
                    t0 = time.perf_counter()
                    r = client.get(path, params=params)
                    times.append((time.perf_counter() - t0) * 1000)
                    r.raise_for_status()
                s = Summary.of(times)
                rows.append(
                    {"database": db_kind, "call": name, "p50": s.p50, "p99": s.p99, "max": s.max}
                )
            return rows


def run_hub_bench(cfg: HubBenchConfig) -> Report:
    report = Report(
        "hub",
        "Hub: MQTT health ingest and fleet API at 10,000 devices",
        config={k: v for k, v in vars(cfg).items() if k != "out"},
    )
    ingest = Table(
        "ingest",
        "Health ingest (messages/s committed to SQL)",
        [
            Column("database", "database", justify="left"),
            Column("broker", "broker", justify="left"),
            Column("messages", "messages", "{:d}"),
            Column("rows", "rows", "{:d}"),
            Column("rate", "msg/s", "{:.0f}"),
        ],
    )
    fleet = Table(
        "fleet",
        f"Fleet API latency, {cfg.fleet_devices} devices (ms)",
        [
            Column("database", "database", justify="left"),
            Column("call", "call", justify="left"),
            Column("p50", "p50"),
            Column("p99", "p99"),
            Column("max", "max"),
        ],
    )
    for db_kind in cfg.databases:
        for broker_kind in (None, *cfg.brokers):
            row = ingest_run(db_kind, broker_kind, cfg)
            ingest.rows.append(row)
            print(f"ingest {db_kind}/{row['broker']}: {row['rate']:.0f} msg/s", flush=True)
        fleet.rows += fleet_run(db_kind, cfg)
    report.tables += [ingest, fleet]
    for row in ingest.rows:
        if row["database"] == "sqlite" and row["broker"] != "none (writer only)":
            report.checks.append(
                check_min(f"ingest sqlite via {row['broker']}", row["rate"], 5000, "msg/s")
            )
    for row in fleet.rows:
        if row["call"] != "fleet summary":
            report.checks.append(
                check_max(f"{row['database']} {row['call']} p99", row["p99"], 100, "ms")
            )
    report.notes.append("2 cores shared by broker, hub and the publisher process.")
    return report


def draw_plots(report: Report, out: Path) -> None:
    """Ingest rate per database and broker; fleet API p50 (whisker: p99) per call."""
    ingest = report.table("ingest").rows
    brokers = list(dict.fromkeys(r["broker"] for r in ingest))
    dbs = list(dict.fromkeys(r["database"] for r in ingest))
    rate = {
        db: [
            next((r["rate"] for r in ingest if r["database"] == db and r["broker"] == b), None)
            for b in brokers
        ]
        for db in dbs
    }
    report.plots.append(
        bar_chart(
            out / "hub-ingest.png",
            brokers,
            rate,
            title="Health ingest into SQL",
            ylabel="messages/s",
        )
    )
    fleet = report.table("fleet").rows
    calls = list(dict.fromkeys(r["call"] for r in fleet))
    p50 = {
        db: [
            next((r["p50"] for r in fleet if r["database"] == db and r["call"] == c), None)
            for c in calls
        ]
        for db in dbs
    }
    p99 = {
        db: [
            next((r["p99"] for r in fleet if r["database"] == db and r["call"] == c), None)
            for c in calls
        ]
        for db in dbs
    }
    report.plots.append(
        bar_chart(
            out / "hub-fleet-api.png",
            calls,
            p50,
            errors=p99,
            title="Fleet API latency, p50 (whisker p99)",
            ylabel="ms",
        )
    )


def main(cfg: HubBenchConfig) -> bool:
    report = run_hub_bench(cfg)
    draw_plots(report, cfg.out)
    print_report(report)
    path = write_report(report, cfg.out)
    print(f"report: {path}")
    return report.passed


if __name__ == "__main__":  # until `edgefleet bench hub` is registered: python -m ...
    raise SystemExit(0 if main(HubBenchConfig()) else 1)
