"""`edgefleet bench hub --replicas` on a tiny budget: real PostgreSQL, Mosquitto, hub processes
and nginx; one row per replica count, every replica used CPU, nothing failed, JSON and PNG
written (the figures themselves are docs/bench/'s)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgefleet.bench.cli import app
from edgefleet.bench.hub.replicas import ReplicasBenchConfig, main

pytestmark = [pytest.mark.long, pytest.mark.postgres, pytest.mark.timeout(300)]


def test_tiny_run_writes_the_report(tmp_path: Path) -> None:
    cfg = ReplicasBenchConfig(
        replicas=(1, 2), fleet_devices=300, clients=2, seconds=1.5, warmup=4, out=tmp_path
    )
    report = main(cfg)
    data = json.loads((tmp_path / "hub-replicas.json").read_text())
    rows = data["results"]["replicas"]
    assert [r["replicas"] for r in rows] == [1, 2]
    assert all(r["requests"] > 0 and r["failed"] == 0 for r in rows)
    assert [len(r["cpu"].split(" / ")) for r in rows] == [1, 2]
    assert all(float(c) > 0 for c in rows[1]["cpu"].split(" / "))  # nginx used both
    assert report.passed
    assert (tmp_path / "hub-replicas.png").stat().st_size > 0


def test_bad_replica_counts_are_refused() -> None:
    result = CliRunner().invoke(app, ["hub", "--replicas", "one,two"])
    assert result.exit_code == 2
    assert "--replicas" in result.output
    result = CliRunner().invoke(app, ["hub", "--replicas", "0,1"])
    assert result.exit_code == 2
