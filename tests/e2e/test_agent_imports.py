"""What a running agent process imports, against an allow-list: a Raspberry Pi Zero 2 W has
512 MB, and every library loaded at start-up stays resident. A real `edgefleet agent` process
(light vision and voice models, a real broker, no hub) is started with
`PYTHONPROFILEIMPORTTIME`, which makes Python log every module it imports; once the agent is
running, each top-level package it loaded must be in the standard library, ours, or below.

A new dependency on the device's start-up path fails this test on purpose: load it only when
the feature that needs it is configured (as `httpx` is, for a device with a hub), or add it
here with the reason."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from edgefleet.procs.agent import AGENT_PACKAGES, agent_command, agent_config, write_config
from edgefleet.procs.process import spawn, stop_process
from edgefleet.procs.wait import wait_until
from tests.fixtures.brokers import BrokerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

OURS = set(AGENT_PACKAGES)
THIRD_PARTY = {
    "numpy": "tensors, pre- and post-processing",
    "cv2": "JPEG/PNG decoding and resizing (opencv-python-headless)",
    "ai_edge_litert": "the TFLite interpreter (LiteRT)",
    "pymicro_features": "microWakeWord's audio front end",
    "micro_features_cpp": "pymicro_features' extension module",
    "aiomqtt": "the MQTT session",
    "paho": "aiomqtt's protocol implementation",
    "pydantic": "typed messages and the config",
    "pydantic_core": "pydantic's core",
    "pydantic_settings": "the config from file and EDGEFLEET_* variables",
    "dotenv": "pydantic_settings' .env support, imported by it",
    "annotated_types": "pydantic's constraints",
    "typing_extensions": "pydantic",
    "typing_inspection": "pydantic",
    "yaml": "the config file",
    "tenacity": "reconnect backoff (mqttio/reconnect.py)",
    "psutil": "load signals: CPU and memory (imported after start-up, edge_agent.load)",
}
# Not here on purpose: typer and what it brings (click, rich...). The agent's command line is
# argparse (edge_agent/cli.py), ~13 ms of cold start less; the other commands keep Typer.
# Loaded by the test run, not by the agent: `make test` measures the coverage of every process
# it starts (coverage's subprocess patch), through the interpreter's start-up hook.
HARNESS = {"coverage", "sitecustomize"}
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|(\s*)(\S+)$")


def imported_packages(log: str) -> set[str]:
    """Top-level packages the log shows imported. Python logs failed attempts too (optional
    imports such as paho's `socks`): a name that is not installed was not loaded."""
    names = {
        m.group(2).split(".")[0] for line in log.splitlines() if (m := IMPORT_LINE.match(line))
    }
    return {name for name in names if importlib.util.find_spec(name) is not None}


def test_a_device_without_a_hub_imports_only_the_allowed_packages(
    tmp_path: Path, amqtt_broker: BrokerProcess
) -> None:
    config = agent_config(
        "imports-1", amqtt_broker.port, models=("face-detect-lite", "wakeword-lite")
    )
    path = write_config(tmp_path / "agent.yaml", config)
    log = tmp_path / "agent.log"
    env = {"PYTHONPROFILEIMPORTTIME": "1", "EDGEFLEET_STATE_DIR": str(tmp_path / "state")}
    proc = spawn(agent_command(path), log=log, env=env)
    try:
        wait_until(lambda: "-> running" in log.read_text(), proc, timeout=60, what="agent")
    finally:
        stop_process(proc)
    text = log.read_text()
    packages = imported_packages(text)
    assert "edge_agent" in packages, text[-2000:]  # the log really lists the imports
    unexpected = sorted(
        p
        for p in packages - OURS - HARNESS - set(THIRD_PARTY) - set(sys.stdlib_module_names)
        if not p.startswith("_")  # interpreter and extension internals (_ssl, _cython_3_x)
    )
    assert not unexpected, f"not on the device's allow-list: {unexpected}"
    assert "httpx" not in packages  # no hub configured: no HTTP client
