"""`edgefleet bench offload` with tiny counts: the structure of its JSON, never wall-clock values;
plus the pure helpers (IoU matching, scoring) on hand-made cases."""

import json
import math
import socket
from pathlib import Path

import pytest

from edgefleet.bench.offload import (
    ALL_SCENARIOS,
    ENGINE,
    GATEWAY,
    KINDS,
    MODES,
    SCENARIOS,
    VISION,
    VOICE,
    OffloadBenchConfig,
    Tally,
    VoiceLabel,
    iou,
    match_faces,
    run_offload_bench,
    score,
)
from edgefleet.bench.offload.checks import checks
from edgefleet.bench.offload.config import GATEWAY_MODES
from edgefleet.bench.offload.fleet import agent_offload_config, gateway_fleet_modes
from edgefleet.bench.offload.report import split_text
from edgefleet.bench.report import Report, Table
from edgefleet.procs.delay import DelayProxy
from tests.fixtures.requires import require_models, require_tools

MODELS = (
    "face-detect-lite",
    "face-detect-full",  # face-detect-cloud runs it and face-detect-lite
    "wakeword-lite",
    "wakeword-full",
)


def test_iou_and_greedy_matching() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    truth = [(0.0, 0.0, 10.0, 10.0), (100.0, 100.0, 120.0, 120.0)]
    # one good box, one box overlapping too little, one far away
    found = [[1, 1, 10, 10], [100, 100, 107, 107], [300, 300, 310, 310]]
    assert match_faces(truth, found) == (1, 2)
    assert match_faces(truth, []) == (0, 0)
    assert match_faces([], found) == (0, 3)


def test_score_vision_and_voice() -> None:
    t = Tally()
    score(VISION, t, [(0.0, 0.0, 10.0, 10.0)], {"where": "cloud", "output": {"faces": [
        {"box": [0, 0, 10, 10], "score": 0.9}]}})  # fmt: skip
    assert (t.faces, t.hits, t.false_faces, t.cloud_answers) == (1, 1, 0, 1)
    assert t.accuracy(VISION) == 100.0
    v = Tally()
    score(VOICE, v, VoiceLabel("alexa"), {"where": "edge", "output": {"detected": True}})
    near = VoiceLabel(None, near_miss=True)  # "a lexus"
    score(VOICE, v, near, {"where": "edge", "output": {"detected": True}})  # a false alarm
    score(VOICE, v, near, {"where": "cloud", "output": {"detected": False}})  # vetoed
    score(VOICE, v, VoiceLabel(None), {"where": "edge", "output": {"detected": True}})
    assert (v.positives, v.detected, v.negatives, v.false_alarms) == (1, 1, 3, 2)
    assert (v.near_misses, v.near_miss_alarms) == (2, 1)
    assert v.accuracy(VOICE) == pytest.approx(50.0)
    e = Tally()
    score(ENGINE, e, 2, {"where": "cloud", "output": {"label": 2, "probabilities": []}})
    score(ENGINE, e, 3, {"where": "edge", "output": {"label": 0, "probabilities": []}})
    assert (e.readings, e.right, e.cloud_answers) == (2, 1, 1)
    assert e.accuracy(ENGINE) == 50.0


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="scenarios"):
        OffloadBenchConfig(scenarios=("idle", "moon")).validate()
    with pytest.raises(ValueError, match="modes"):
        OffloadBenchConfig(modes=("edge", "fog")).validate()


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.long  # artefact-heavy: a hub, four agents, three data sets
@pytest.mark.timeout(240)
def test_tiny_run_writes_the_table(tmp_path: Path) -> None:
    require_models(*MODELS)
    require_tools("espeak-ng")
    cfg = OffloadBenchConfig(faces=2, clips=2, readings=2, warmup=0, time_limit_s=5.0, plots=True)
    report = run_offload_bench(cfg, tmp_path)
    data = json.loads((tmp_path / "offload.json").read_text())
    assert data["benchmark"] == "offload"
    assert set(data["results"]) == {*KINDS, "summary"}
    for kind in KINDS:
        rows = data["results"][kind]
        assert [(r["scenario"], r["mode"]) for r in rows] == [
            (s, m) for s in SCENARIOS for m in MODES
        ]
        for row in rows:
            assert row["n"] + row["errors"] + row["lost"] == 2
            for key in ("p50_ms", "p99_ms", "accuracy", "bytes_sent", "device_mb", "cloud_mb"):
                assert key in row
            assert row["device_cpu_ms"] >= 0  # CPU ticks are 10 ms: 2 requests may show none
            assert row["device_mj_pi5"] >= row["device_mj_pi4"] >= 0
            assert row["device_mb"] > 0
            assert (row["bytes_sent"] == 0) if row["mode"] == "edge" else True
    names = [c["name"] for c in data["checks"]]
    assert sum("adaptive p99" in n for n in names) == len(KINDS) * len(SCENARIOS)
    assert sum("cascade accuracy" in n for n in names) == len(KINDS)
    summary = data["results"]["summary"]
    assert [(r["data"], r["mode_title"]) for r in summary] == [
        (k, m) for k in KINDS for m in ("edge-only", "cloud-only", "collaborative")
    ]
    assert sum(n.startswith("cloud down") for n in names) == 4
    assert all(c["verdict"] in {"PASS", "FAIL", "n/a"} for c in data["checks"])
    assert data["passed"] == report.passed
    assert set(data["plots"]) == {
        f"offload-{k}-{what}.png" for k in KINDS for what in ("latency", "accuracy", "bytes")
    }
    assert all((tmp_path / p).stat().st_size > 0 for p in data["plots"])


def test_split_counts_where_each_answer_was_computed() -> None:
    t = Tally()
    for where in ("edge", "gateway", "gateway", "cloud"):
        t.latencies.append(10.0)
        score(ENGINE, t, 1, {"where": where, "output": {"label": 1, "probabilities": []}})
    assert (t.cloud_answers, t.gateway_answers) == (1, 2)
    assert t.split() == {"edge": 25.0, "gateway": 50.0, "cloud": 25.0}
    assert split_text(t.split()) == "25/50/25"
    assert all(math.isnan(v) for v in Tally().split().values())
    assert split_text(Tally().split()) == "-"


def _report(p99: dict[str, float], scenario: str = GATEWAY) -> Report:
    rows = [{"scenario": scenario, "mode": m, "p99_ms": v} for m, v in p99.items()]
    return Report("offload", "t", tables=[Table(VISION, "t", [], rows)])


def test_adaptive_p99_against_the_best_single_target_gateway_included() -> None:
    report = _report({"edge": 200.0, "cloud": 300.0, "gateway": 90.0, "adaptive": 95.0})
    (check,) = checks(report, [GATEWAY])
    assert check.passed is True
    assert "gateway-only" in check.target
    assert "99" in check.target
    report = _report({"edge": 200.0, "cloud": 300.0, "gateway": 80.0, "adaptive": 95.0})
    (check,) = checks(report, [GATEWAY])
    assert check.passed is False  # 95 > 88: not tuned to pass
    # without a gateway-only row (other scenarios): the better of edge-only and cloud-only
    report = _report({"edge": 50.0, "cloud": 300.0, "adaptive": 54.0}, "cpu")
    (check,) = checks(report, ["cpu"])
    assert check.passed is True
    assert "(edge-only)" in check.target
    # an unmeasured single target does not win the bar
    report = _report({"edge": math.nan, "cloud": 100.0, "adaptive": 105.0}, "cpu")
    assert checks(report, ["cpu"])[0].passed is True


def test_gateway_scenario_config() -> None:
    assert GATEWAY in ALL_SCENARIOS
    assert GATEWAY not in SCENARIOS
    OffloadBenchConfig(scenarios=(GATEWAY,)).validate()
    with pytest.raises(ValueError, match="MQTT 5"):
        OffloadBenchConfig(scenarios=(GATEWAY,), broker="amqtt").validate()
    assert gateway_fleet_modes(GATEWAY_MODES) == {
        "edge": "edge", "cloud": "cloud", "gateway": "adaptive", "adaptive": "adaptive"
    }  # fmt: skip
    pipelines = agent_offload_config("adaptive", same_model=True)["offload"]["pipelines"]
    assert pipelines["face-detect-full"] == {"mode": "adaptive", "cloud_model": "face-detect-full"}


def test_cascade_bands_reach_the_agents_config() -> None:
    """Faces and engine get their bands; voice keeps verify-and-rescue unless given a band,
    then it is the band rule on the doubt head (no rescue words). The agent accepts both."""
    from edge_agent.config import parse_config

    default = OffloadBenchConfig()
    pipelines = agent_offload_config("cascade", default.bands)["offload"]["pipelines"]
    assert pipelines["face-detect-lite"]["uncertain"] == list(default.face_band)
    assert pipelines["engine-fault"]["uncertain"] == list(default.engine_band)
    assert pipelines["wakeword-lite"] == {"mode": "cascade"}
    voice = OffloadBenchConfig(voice_band=(0.0, 0.75)).bands
    offload = agent_offload_config("cascade", voice)["offload"]
    assert offload["pipelines"]["wakeword-lite"] == {
        "mode": "cascade", "uncertain": [0.0, 0.75], "rescue_words": []
    }  # fmt: skip
    models = list(offload["pipelines"])
    parse_config({"device_id": "d1", "models": models, "offload": offload})


def test_delay_proxy_cut_closes_and_refuses() -> None:
    with socket.create_server(("127.0.0.1", 0)) as upstream:
        port = upstream.getsockname()[1]
        with DelayProxy(port) as proxy:
            held = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
            upstream.accept()[0].close()  # the proxy reached the target
            proxy.cut()
            held.settimeout(5)
            assert held.recv(1) == b""  # closed by the cut
            held.close()
            again = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
            again.settimeout(5)
            assert again.recv(1) == b""  # refused: closed at once, the target not reached
            again.close()


def test_a_data_set_of_zero_samples_is_left_out() -> None:
    """`--readings 0` (like `--clips 0`) skips that data set instead of crashing."""
    from edgefleet.bench.offload.measure import load_samples

    samples, _ = load_samples(OffloadBenchConfig(faces=1, clips=0, readings=0))
    assert (len(samples[VISION]), samples[VOICE], samples[ENGINE]) == (1, [], [])


def test_clip_voice_speaks_the_same_recipes_with_another_voice() -> None:
    """`--clip-voice flite:kal16`: the voice set's phrases and labels, another voice's sound;
    a voice no synthesiser has is refused with a message, not spoken by a default voice."""
    require_tools("espeak-ng", "flite")
    from edgefleet.bench.offload.measure import load_samples

    base, _ = load_samples(OffloadBenchConfig(faces=1, clips=3, readings=0))
    cfg = OffloadBenchConfig(faces=1, clips=3, readings=0, clip_voice="flite:kal16")
    cfg.validate()
    other, notes = load_samples(cfg)
    assert [s.label for s in other[VOICE]] == [s.label for s in base[VOICE]]
    assert all(a.payload != b.payload for a, b in zip(other[VOICE], base[VOICE], strict=True))
    assert "voice: every clip spoken by flite:kal16" in notes
    for voice, known in (("flite:nope", "flite:kal16"), ("xx-nope", "espeak-ng --voices")):
        with pytest.raises(ValueError, match=known):
            OffloadBenchConfig(clip_voice=voice).validate()
