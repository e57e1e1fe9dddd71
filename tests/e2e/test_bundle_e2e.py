"""The first boot of a Pi, minus the Pi: extract the x86_64 bundle into a fresh directory, run
its install script with no package index reachable, start the installed agent, which enrolls
at a live hub with the token from its config and shows `online`.

"No network" for pip: PIP_NO_INDEX=1, PIP_CONFIG_FILE=/dev/null (this machine's pip config
names extra local indexes), every PIP_*INDEX*/FIND_LINKS variable removed, and HTTP(S) proxies
pointing at a closed port so that any attempt to reach an index fails.
"""

import os
import shutil
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from edgefleet.procs import spawn, stop_process
from tests.deploy.bundles import x86_64_bundle
from tests.deploy.hubproc import running_hub
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.requires import require_tools

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["x86_64_bundle"]  # the session fixture

SYSTEM_PYTHON = "/usr/bin/python3"


def offline_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env.update(
        HOME=str(home),
        PIP_NO_INDEX="1",
        PIP_CONFIG_FILE=os.devnull,
        http_proxy="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        no_proxy="",
        NO_PROXY="",
    )
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # not this test run's venv
    return env


def agent_env(home: Path) -> dict[str, str]:
    """The agent talks to the hub on loopback: no proxies (spawn() merges os.environ)."""
    proxies = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy")
    env = {k: v for k, v in offline_env(home).items() if k not in proxies}
    env.update(dict.fromkeys(proxies, ""))
    return env


@pytest.mark.timeout(600)
def test_bundle_installs_offline_and_agent_enrolls(
    x86_64_bundle: Path, amqtt_broker: BrokerProcess, tmp_path: Path
) -> None:
    if not Path(SYSTEM_PYTHON).exists() or shutil.which("sha256sum") is None:
        require_tools(SYSTEM_PYTHON, "sha256sum")
    fresh = tmp_path / "device"
    fresh.mkdir()
    with tarfile.open(x86_64_bundle) as tar:
        tar.extractall(fresh, filter="data")
    (bundle,) = fresh.iterdir()
    prefix, config = tmp_path / "opt" / "edgefleet", tmp_path / "etc" / "edgefleet" / "agent.yaml"
    home = tmp_path / "home"
    home.mkdir()

    with running_hub(tmp_path / "hub", mqtt_port=amqtt_broker.port) as hub:
        token = hub.token("bundle-e2e")
        done = subprocess.run(
            [str(bundle / "install.sh"), "--prefix", str(prefix), "--config", str(config),
             "--python", SYSTEM_PYTHON, "--hub", hub.url, "--token", token, "--no-systemd"],
            capture_output=True, text=True, timeout=600, env=offline_env(home),
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        assert token in config.read_text()
        edgefleet = prefix / "venv" / "bin" / "edgefleet"
        assert edgefleet.exists()
        # the venv is Debian's python, not this test run's
        cfg = (prefix / "venv" / "pyvenv.cfg").read_text()
        assert "/usr/bin" in cfg

        log = tmp_path / "agent.log"
        proc = spawn(
            [str(edgefleet), "agent", "--config", str(config)],
            log=log,
            env={**agent_env(home), "EDGEFLEET_AGENT_HEALTH_INTERVAL_S": "1"},
        )
        try:
            data: dict[str, object] = {}
            deadline_ok = False
            for _ in range(300):  # the config is rewritten once enrolled
                data = yaml.safe_load(config.read_text()) or {}
                if "device_id" in data and "enrollment_token" not in data.get("hub", {}):  # type: ignore[operator]
                    deadline_ok = True
                    break
                assert proc.poll() is None, log.read_text()
                time.sleep(0.1)  # no event to wait on: the agent rewrites a file
            assert deadline_ok, log.read_text()
            device = str(data["device_id"])
            hub.wait_state(device, "online", timeout=15, agent_log=log)
            assert token not in config.read_text()
        finally:
            assert stop_process(proc) == 0, log.read_text()[-3000:]
        hub.wait_state(device, "offline", timeout=5)
