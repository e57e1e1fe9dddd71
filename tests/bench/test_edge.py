"""`edgefleet bench edge` with tiny counts: the structure of its JSON, never wall-clock values."""

import json
import shutil
from pathlib import Path

import pytest

from edgefleet.bench.edge import EdgeBenchConfig, run_edge_bench
from tests.fixtures.requires import require_models, require_tools

MODELS = ("face-detect-lite", "wakeword-lite")


@pytest.fixture(autouse=True)
def _components() -> None:
    require_models(*MODELS)
    require_tools("espeak-ng")


TINY = {
    "requests": 3,
    "throughput_requests": 4,
    "window": 2,
    "warmup": 1,
    "invoke_requests": 5,
    "time_limit_s": 10.0,
    "rounds": 2,
}


def test_in_process_only(tmp_path: Path) -> None:
    cfg = EdgeBenchConfig(models=MODELS, mqtt=False, cold_starts=0, plots=False, **TINY)
    rep = run_edge_bench(cfg, tmp_path)
    data = json.loads((tmp_path / "edge.json").read_text())
    rows = data["results"]["latency"]
    assert [(r["model"], r["level"]) for r in rows] == [
        (m, level) for m in MODELS for level in ("invoke", "in-process")
    ]
    for row in rows:
        assert row["n"] >= 1
        assert row["p50_ms"] is not None
    inproc = [r for r in rows if r["level"] == "in-process"]
    assert all(r["rate"] > 0 for r in inproc)
    assert set(inproc[0]["stages_p50_ms"]) == {"decode", "preprocess", "infer", "postprocess"}
    assert data["results"]["footprint"] == []
    assert rep.checks  # MQTT checks are reported as unmeasured, not dropped
    assert {c["verdict"] for c in data["checks"]} <= {"n/a", "PASS", "FAIL"}


@pytest.mark.slow
@pytest.mark.long  # make test-long: make test is at its 15-minute budget
@pytest.mark.e2e
@pytest.mark.mosquitto
def test_full_path_against_both_brokers(tmp_path: Path) -> None:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        require_tools("mosquitto")
    cfg = EdgeBenchConfig(
        models=("face-detect-lite",),
        cold_starts=1,
        load_requests=4,
        load_stress=1,
        load_settle_s=0.0,
        **TINY,
    )
    run_edge_bench(cfg, tmp_path)
    data = json.loads((tmp_path / "edge.json").read_text())
    rows = data["results"]["latency"]
    mqtt = {r["broker"]: r for r in rows if r["level"] == "mqtt"}
    assert set(mqtt) == {"amqtt", "mosquitto"}
    for row in mqtt.values():
        assert row["n"] == 3
        assert row["lost"] == 0
        for key in ("p50_ms", "p99_ms", "rate", "p50_ratio", "rate_ratio", "rate_ratio_start"):
            assert isinstance(row[key], float)
        assert row["rounds"] == 2
        assert len(row["rate_ratio_rounds"]) == 2
    footprint = {r["broker"]: r for r in data["results"]["footprint"]}
    assert set(footprint) == {"amqtt", "mosquitto"}
    for row in footprint.values():
        assert row["runs"] == 1
        assert row["rss_mb"] > 0
        assert 0 < row["anon_mb"] < row["rss_mb"]  # the rest is mapped library and model files
        assert row["agent_exit_codes"] == [0]
    loaded = footprint["mosquitto"]  # RSS under load: on the target broker only
    assert loaded["load_answered"] == 4
    assert loaded["load_lost"] == 0
    assert loaded["load_idle_mb"] > 0
    assert loaded["load_after_mb"] > 0
    assert "load_idle_mb" not in footprint["amqtt"]
    two = {r["broker"]: r for r in rows if r["level"] == "mqtt x2"}  # two workers per model
    assert set(two) == {"amqtt", "mosquitto"}
    assert all(r["workers"] == 2 and r["n"] == 3 for r in two.values())
    assert all(len(r["scaling_rounds"]) == 2 for r in two.values())
    assert all(isinstance(r["scaling"], float) for r in two.values())
    cpu = {(r["broker"], r["level"]): r for r in data["results"]["cpu"]}
    assert set(cpu) == {(b, lvl) for b in ("amqtt", "mosquitto") for lvl in ("mqtt", "mqtt x2")}
    # 4 requests are below /proc's 10 ms ticks: only the shape here (the attribution itself:
    # tests/bench/test_edge_cpu.py)
    for split in cpu.values():
        parts = ("agent_loop", "agent_workers", "broker_ms", "client")
        assert all(split[k] >= 0 for k in parts), split
        assert split["total"] == pytest.approx(sum(split[k] for k in parts))
    names = [c["name"] for c in data["checks"]]
    assert len(names) == 6
    assert "agent RSS growth under load" in names
    assert "face-detect-lite on mosquitto: 2 workers / 1 worker, MQTT rate" in names
    assert all(c["verdict"] in {"PASS", "FAIL"} for c in data["checks"])
    assert sorted(data["plots"]) == [
        "edge-cpu.png",
        "edge-footprint.png",
        "edge-latency.png",
        "edge-throughput.png",
    ]
    for name in data["plots"]:
        assert (tmp_path / name).stat().st_size > 0
    assert data["notes"] == [n for n in data["notes"] if "failed" not in n]
