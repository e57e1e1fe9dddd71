"""`edgefleet broker` as a user runs it: config validation, start-up line, exit on signals."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.brokers import BrokerProcess

EDGEFLEET = str(Path(sys.executable).with_name("edgefleet"))


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EDGEFLEET, "broker", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--port", "70000"], {}), ([], {"EDGEFLEET_BROKER_PORT": "-1"})],
    ids=["option", "environment"],
)
def test_validate_config_rejects_bad_port(args: list[str], env: dict[str, str]) -> None:
    result = _run(*args, "--validate-config", **env)

    assert result.returncode == 2
    assert "port (EDGEFLEET_BROKER_PORT): must be between 1 and 65535" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_config_accepts_good_settings() -> None:
    result = _run("--port", "2883", "--allow-anonymous", "--validate-config")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("config ok: ")
    assert '"port":2883' in result.stdout
    assert '"allow_anonymous":true' in result.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_runs_until_signal_then_exits_zero(amqtt_broker: BrokerProcess, sig: int) -> None:
    assert f"broker listening on mqtt://127.0.0.1:{amqtt_broker.port}" in amqtt_broker.output

    amqtt_broker.proc.send_signal(sig)  # type: ignore[union-attr]

    assert amqtt_broker.proc.wait(timeout=20) == 0  # type: ignore[union-attr]
    assert not any("Traceback" in line for line in amqtt_broker.output)


def test_port_taken_is_reported_without_traceback(amqtt_broker: BrokerProcess) -> None:
    result = _run("--port", str(amqtt_broker.port))

    assert result.returncode == 1
    assert f"broker could not start on 127.0.0.1:{amqtt_broker.port}" in result.stderr
    assert "Traceback" not in result.stderr
