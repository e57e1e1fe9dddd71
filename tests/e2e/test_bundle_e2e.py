"""The first boot of a Pi, minus the Pi: extract the x86_64 bundle into a fresh directory, run
its install script with no package index reachable (over an older install's layout), start the
installed agent through the launcher, as its systemd unit does, which enrolls at a live hub with
the token from its config and shows `online`; then install the same bundle again, and stage it
as the agent stages an update.

"No network" for pip: PIP_NO_INDEX=1, PIP_CONFIG_FILE=/dev/null (this machine's pip config
names extra local indexes), every PIP_*INDEX*/FIND_LINKS variable removed, and HTTP(S) proxies
pointing at a closed port so that any attempt to reach an index fails.
"""

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from edgefleet.procs import spawn, stop_process
from tests.deploy.bundles import extract, x86_64_bundle
from tests.deploy.hubproc import running_hub
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.requires import require_tools

# long lane: make test stays under 15 minutes; this and the agent-update e2e share one build
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.long]
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


@pytest.mark.timeout(900)  # with the bundle's build, three offline installs
def test_bundle_installs_offline_and_agent_enrolls(
    x86_64_bundle: Path, amqtt_broker: BrokerProcess, tmp_path: Path
) -> None:
    if not Path(SYSTEM_PYTHON).exists() or shutil.which("sha256sum") is None:
        require_tools(SYSTEM_PYTHON, "sha256sum")
    bundle = extract(x86_64_bundle, tmp_path / "device")
    prefix, config = tmp_path / "opt" / "edgefleet", tmp_path / "etc" / "edgefleet" / "agent.yaml"
    home = tmp_path / "home"
    home.mkdir()

    # an older install's layout: real directories where the compatibility links now go
    (prefix / "venv" / "bin").mkdir(parents=True)
    (prefix / "models" / "old").mkdir(parents=True)

    with running_hub(tmp_path / "hub", mqtt_port=amqtt_broker.port) as hub:
        token = hub.token("bundle-e2e")
        done = install(bundle, home, "--prefix", str(prefix), "--config", str(config),
                       "--hub", hub.url, "--token", token)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        assert token in config.read_text()
        version = (bundle / "VERSION").read_text().strip()
        check_layout(prefix, version)
        # the venv is Debian's python, not this test run's
        cfg = (prefix / "releases" / version / "venv" / "pyvenv.cfg").read_text()
        assert "/usr/bin" in cfg

        # started as systemd starts it: through the launcher, which starts releases/current
        log = tmp_path / "agent.log"
        proc = spawn(
            [str(prefix / "launch"), "--config", str(config)],
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
            # SIGTERM to the launcher reaches the agent, whose clean stop is the launcher's exit
            assert stop_process(proc) == 0, log.read_text()[-3000:]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # nothing of the session may outlive it
        hub.wait_state(device, "offline", timeout=5)

    # the same bundle again: a re-install of the current version keeps the layout
    done = install(bundle, home, "--prefix", str(prefix), "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    check_layout(prefix, version)
    assert not (prefix / "releases" / "previous").exists()

    # staging (what the agent runs for an update): refused where it is current; elsewhere it
    # adds R/<VERSION>, a runnable release, and nothing else
    done = install(bundle, home, "--stage", str(prefix / "releases"))
    assert done.returncode == 1
    assert f"{version} is the current release" in done.stderr
    other = tmp_path / "other-releases"
    other.mkdir()
    done = install(bundle, home, "--stage", str(other))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in other.iterdir()] == [version]
    staged = other / version
    assert sorted(p.name for p in staged.iterdir()) == ["models", "venv"]
    ran = subprocess.run(
        [str(staged / "venv" / "bin" / "edgefleet"), "--help"],
        capture_output=True, text=True, timeout=60, env=agent_env(home),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr


def install(bundle: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The bundle's install.sh with no package index reachable, as a user without systemd."""
    return subprocess.run(
        [str(bundle / "install.sh"), *args, "--python", SYSTEM_PYTHON,
         *([] if "--stage" in args else ["--no-systemd"])],
        capture_output=True, text=True, timeout=600, env=offline_env(home),
    )  # fmt: skip


def check_layout(prefix: Path, version: str) -> None:
    """releases/<version> is current; the old paths are links that follow it."""
    releases = prefix / "releases"
    assert os.readlink(releases / "current") == version
    assert (releases / version / "venv" / "bin" / "edgefleet").exists()
    assert sorted((releases / version / "models").iterdir())  # the bundle's model files
    assert os.readlink(prefix / "venv") == "releases/current/venv"
    assert os.readlink(prefix / "models") == "releases/current/models"
    assert (prefix / "venv" / "bin" / "edgefleet").exists()
    assert stat.S_IMODE((prefix / "launch").stat().st_mode) == 0o755
    assert not [p for p in (*prefix.iterdir(), *releases.iterdir()) if p.name.startswith(".")]
