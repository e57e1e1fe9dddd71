"""Config validation: good files load with defaults; bad ones name the key and the value."""

from pathlib import Path
from typing import Any

import pytest

from edge_agent.cli import app
from edge_agent.config import MAX_WORKERS, load_config, parse_config
from edge_agent.errors import ConfigError

GOOD = """
device_id: cam-01
broker: {host: 127.0.0.1, port: 1884}
models: [face-detect-lite, wakeword-lite]
sensors:
  - topic: cameras/+/jpeg
    model: face-detect-lite
    content_type: image/jpeg
"""


def test_good_file_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(GOOD)
    cfg = load_config(path)
    assert cfg.device_id == "cam-01"
    assert cfg.broker.port == 1884
    assert cfg.broker.protocol == "3.1.1"
    assert cfg.max_payload_bytes == 1 << 20
    assert cfg.health_interval_s == 5
    assert cfg.workers_per_model == 1
    assert cfg.topic_prefix == "edgefleet/v1"
    assert cfg.client_id == "cam-01"
    assert cfg.sensors[0].topic == "cameras/+/jpeg"


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(GOOD)
    monkeypatch.setenv("EDGEFLEET_AGENT_BROKER__PORT", "2883")
    monkeypatch.setenv("EDGEFLEET_AGENT_MAX_PAYLOAD_BYTES", "2048")
    cfg = load_config(path)
    assert (cfg.broker.port, cfg.max_payload_bytes, cfg.broker.host) == (2883, 2048, "127.0.0.1")


BASE: dict[str, Any] = {"device_id": "cam-01", "models": ["face-detect-lite"]}


@pytest.mark.parametrize(
    ("change", "key", "value"),
    [
        ({"device_id": "Cam 1"}, "device_id", "'Cam 1'"),
        ({"broker": {"port": 70000}}, "broker.port", "70000"),
        ({"broker": {"reconnect_min_s": 5, "reconnect_max_s": 1}}, "broker", "reconnect_max_s"),
        ({"broker": {"protocol": "4"}}, "broker.protocol", "'4'"),
        ({"models": []}, "models", "[]"),
        ({"models": ["bad/id"]}, "models", "bad/id"),
        ({"sensors": [{"topic": "a/#/b", "model": "m"}]}, "sensors.0.topic", "a/#/b"),
        ({"sensors": [{"topic": "a/+x", "model": "m"}]}, "sensors.0.topic", "a/+x"),
        ({"sensors": [{"topic": "a/b", "model": "other"}]}, "sensors.0.model", "'other'"),
        ({"max_payload_bytes": 0}, "max_payload_bytes", "0"),
        ({"health_interval_s": -1}, "health_interval_s", "-1"),
        ({"topic_prefix": "a/+"}, "topic_prefix", "a/+"),
        ({"colour": "red"}, "colour", "'red'"),
        ({"peers": {"serve": True}}, "peers.serve", 'broker.protocol: "5"'),  # MQTT 3.1.1
        ({"peers": {"weights": {"latency": 0, "load": 0, "quality": 0}}}, "peers.weights", "0"),
        ({"peers": {"timeout": 1}}, "peers.timeout", "1"),
        ({"workers_per_model": 0}, "workers_per_model", "0"),
        ({"workers_per_model": "many"}, "workers_per_model", "'auto'"),
    ],
)
def test_errors_name_key_and_value(change: dict[str, Any], key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, **change}, "agent.yaml")
    text = str(info.value)
    assert text.startswith("agent.yaml: invalid agent configuration")
    assert key in text
    assert value in text


def test_workers_follow_the_cpus_the_agent_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """`auto` is one worker per CPU of the process's affinity (a cpuset or taskset narrows
    it), capped; a number is taken as it is; the default is one."""
    auto = {**BASE, "workers_per_model": "auto"}
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 2, 5})
    assert parse_config(auto, "agent.yaml").inference_workers == 3
    assert parse_config({**BASE, "workers_per_model": 2}, "a.yaml").inference_workers == 2
    assert parse_config(BASE, "a.yaml").inference_workers == 1
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)))
    assert parse_config(auto, "agent.yaml").inference_workers == MAX_WORKERS


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("device_id: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(bad)


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        app(args)
    out = capsys.readouterr()
    return int(exit_.value.code or 0), out.out, out.err


def test_cli_validate_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    code, out, err = _run_cli(["--config", str(good), "--validate-config"], capsys)
    assert code == 0, err
    assert "OK" in out

    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("port: 1884", "port: nope"))
    code, out, err = _run_cli(["--config", str(bad), "--validate-config"], capsys)
    assert code == 2  # a configuration error: the launcher does not restart the agent
    assert "broker.port" in err
    assert "'nope'" in err
    assert "OK" not in out


def test_cli_usage_errors_name_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run_cli(["--validate-config"], capsys)
    assert code == 2
    assert "--config" in err
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    code, _, err = _run_cli(["--config", str(good), "--log-level", "loud"], capsys)
    assert code == 2
    assert "--log-level" in err
    assert "LOUD" in err
    code, out, _ = _run_cli(
        ["--config", str(good), "--validate-config", "--log-level", "debug"], capsys
    )
    assert code == 0
    assert "OK" in out
