"""Fleet API measurement: sequential HTTP requests over loopback at 10,000 devices."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from contract.http import DEVICE, DEVICES, FLEET_SUMMARY, path
from edgefleet.bench.hub.config import HubBenchConfig
from edgefleet.bench.hub.seeding import seed
from edgefleet.bench.hub.services import database, hub
from edgefleet.bench.stats import Summary
from edgefleet.procs.hub import ADMIN_KEY

WARMUP = 10  # unmeasured requests per call


def calls(fleet_devices: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """What a dashboard asks: name -> (path, query)."""
    mid = f"dev-{fleet_devices // 2:05d}"
    return {
        "list first page (100)": (path(DEVICES), {"limit": 100}),
        "list page via cursor": (path(DEVICES), {"limit": 100, "cursor": mid}),
        "filter site": (path(DEVICES), {"site": "site-7"}),
        "filter tag": (path(DEVICES), {"tag": "group-42"}),
        "filter state": (path(DEVICES), {"state": "lost", "limit": 100}),
        "filter capability+site": (
            path(DEVICES),
            {"capability": "wakeword-lite", "site": "site-3"},
        ),
        "search q": (path(DEVICES), {"q": "dev-0999"}),
        "get one": (path(DEVICE, device_id=mid), {}),
        "fleet summary": (path(FLEET_SUMMARY), {}),
    }


def fleet_run(db_kind: str, cfg: HubBenchConfig) -> list[dict[str, Any]]:
    """p50/p99/max (ms) per call against `cfg.fleet_devices` seeded devices."""
    import httpx

    with tempfile.TemporaryDirectory() as tmp, database(db_kind, Path(tmp)) as url:
        seed(url, cfg.fleet_devices)
        with (
            hub(url, Path(tmp), None) as (_, port),
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            ) as client,
        ):
            rows = []
            for name, (path, params) in calls(cfg.fleet_devices).items():
                for _ in range(WARMUP):
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
