"""The device launcher (deploy/bundle/launch.sh) run for real by `sh`, against a releases
directory whose releases are tiny fakes: `R/<v>/venv/bin/edgefleet` is a Python script that logs
each start (its version, argv and the launcher's environment variables) and then follows a plan
written by the test, one line per start (the last line repeats):

    exit N              exit with N
    stage V exit N      write R/pending -> V, as the agent does after staging V, then exit N
    commit exit N       delete R/trial (the agent found itself healthy), then exit N
    wait N              wait for SIGTERM/SIGINT, log it, then exit with N

Every wait is on a condition (a log line, the launcher's exit) with a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent import launcher
from edgefleet.procs.wait import wait_until
from tests.fixtures.requires import require_tools

LAUNCH = Path(__file__).resolve().parents[2] / "deploy" / "bundle" / "launch.sh"
OLD, NEW = "1.0.0", "1.1.0"

FAKE = """#!{python} -S
import json, os, signal, sys
from pathlib import Path

VERSION, CTRL = {version!r}, Path({ctrl!r})
R = Path(os.environ.get("EDGEFLEET_RELEASES", "/nonexistent"))


def log(**record):
    with (CTRL / "log.jsonl").open("a") as f:
        f.write(json.dumps(dict(version=VERSION, **record)) + "\\n")


counter = CTRL / (VERSION + ".starts")
start = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(start))
plan = (CTRL / (VERSION + ".plan")).read_text().splitlines()
step = plan[min(start, len(plan)) - 1].split()
if step[0] == "stage":
    os.symlink(step[1], R / ".pending.fake")
    os.replace(R / ".pending.fake", R / "pending")
    step = step[2:]
if step[0] == "commit":
    (R / "trial").unlink()
    step = step[1:]
code = int(step[1])
if step[0] == "wait":
    def stop(signum, _frame):
        log(signal=signal.Signals(signum).name)
        sys.exit(code)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
env = {{k: os.environ.get(k) for k in ("EDGEFLEET_RELEASES", "EDGEFLEET_MODEL_DIR")}}
log(start=start, argv=sys.argv[1:], env=env, waiting=step[0] == "wait")
if step[0] == "wait":
    while True:
        signal.pause()
sys.exit(code)
"""


class Device:
    """$PREFIX with the launcher at $PREFIX/launch and fake releases under $PREFIX/releases."""

    def __init__(self, root: Path) -> None:
        self.prefix = root / "opt"
        self.r = self.prefix / launcher.RELEASES
        self.ctrl = root / "ctrl"
        self.r.mkdir(parents=True)
        self.ctrl.mkdir()
        shutil.copy2(LAUNCH, self.prefix / launcher.LAUNCHER)
        self.proc: subprocess.Popen[bytes] | None = None

    def release(self, version: str, *plan: str) -> None:
        script = self.r / version / launcher.AGENT_BIN
        script.parent.mkdir(parents=True)
        (self.r / version / launcher.MODELS).mkdir()
        script.write_text(FAKE.format(python=sys.executable, version=version, ctrl=str(self.ctrl)))
        script.chmod(0o755)
        (self.ctrl / f"{version}.plan").write_text("\n".join(plan) + "\n")

    def link(self, name: str, version: str) -> None:
        (self.r / name).symlink_to(version)

    def target(self, name: str) -> str | None:
        path = self.r / name
        return os.readlink(path) if path.is_symlink() else None

    def start(self, *args: str, shell: str = "sh", **env: str) -> subprocess.Popen[bytes]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("EDGEFLEET_")}
        # as systemd starts it: SIGINT and SIGQUIT at their defaults even when this test run
        # inherited them ignored (a suite started in the background by a non-interactive shell),
        # since a shell cannot trap a signal ignored on entry (POSIX `trap`)
        self.proc = subprocess.Popen(
            [
                "env",
                "--default-signal=INT,QUIT",
                shell,
                str(self.prefix / launcher.LAUNCHER),
                *args,
            ],
            env={**base, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own group: a failed test kills the child too
        )
        return self.proc

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        """The launcher's exit code and stderr; and no temporary link or file left in R."""
        assert self.proc is not None
        _out, err = self.proc.communicate(timeout=timeout)
        leftovers = [p.name for p in self.r.iterdir() if p.name.startswith(".")]
        assert leftovers == [], leftovers
        return self.proc.returncode, err.decode()

    def run(self, *args: str, **env: str) -> tuple[int, str]:
        self.start(*args, **env)
        return self.finish()

    def log(self) -> list[dict[str, Any]]:
        path = self.ctrl / "log.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines]

    def starts(self) -> list[str]:
        return [rec["version"] for rec in self.log() if "start" in rec]

    def wait_running(self, version: str, timeout: float = 20) -> None:
        """Until `version` has started in a `wait` step."""

        def running() -> bool:
            return any(r["version"] == version and r.get("waiting") for r in self.log())

        wait_until(running, self.proc, timeout=timeout, what="launcher")  # type: ignore[arg-type]

    def file(self, name: str) -> str | None:
        path = self.r / name
        return path.read_text() if path.exists() else None


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    dev = Device(tmp_path)
    yield dev
    if dev.proc is not None:  # after a failed test, neither the launcher nor a fake may live on
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dev.proc.pid, signal.SIGKILL)
        dev.proc.communicate(timeout=10)  # and its stderr pipe closed, not left to the GC


def test_launcher_constants_agree_with_the_python_module() -> None:
    text = LAUNCH.read_text()
    assigned = dict(re.findall(r"^([A-Z_]+)=(\S+)$", text, flags=re.MULTILINE))
    expected = {
        "RESTART_EXIT": str(launcher.RESTART_EXIT),
        "CONFIG_EXIT": str(launcher.CONFIG_EXIT),
        "MAX_TRIAL_STARTS": str(launcher.MAX_TRIAL_STARTS),
        "CURRENT": launcher.CURRENT,
        "PREVIOUS": launcher.PREVIOUS,
        "PENDING": launcher.PENDING,
        "TRIAL": launcher.TRIAL,
        "ROLLED_BACK": launcher.ROLLED_BACK,
        "AGENT_BIN": launcher.AGENT_BIN,
        "MODELS": launcher.MODELS,
    }
    assert {k: assigned.get(k) for k in expected} == expected
    # the environment: R and the trial count are read, R and the model dir handed to the agent
    assert f"${{{launcher.ENV_RELEASES}:-$HERE/{launcher.RELEASES}}}" in text
    assert f"${{{launcher.ENV_TRIAL_STARTS}:-$MAX_TRIAL_STARTS}}" in text
    assert f"{launcher.ENV_RELEASES}=$R {launcher.ENV_MODEL_DIR}=$R/$CURRENT/$MODELS" in text


def test_starts_current_with_its_args_and_env(device: Device) -> None:
    device.release(OLD, "exit 0")
    device.link(launcher.CURRENT, OLD)
    code, err = device.run("--config", "/etc/edgefleet/agent.yaml", "-v")
    assert code == 0, err
    (record,) = device.log()
    assert record["argv"] == ["agent", "--config", "/etc/edgefleet/agent.yaml", "-v"]
    assert record["env"] == {
        "EDGEFLEET_RELEASES": str(device.r),  # the default: `releases` beside the launcher
        "EDGEFLEET_MODEL_DIR": f"{device.r}/{launcher.CURRENT}/{launcher.MODELS}",
    }
    assert sorted(p.name for p in device.r.iterdir()) == [OLD, launcher.CURRENT]  # no trial


def test_releases_dir_from_the_environment(device: Device, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    device.r.rename(other)
    device.r = other
    device.release(OLD, "exit 0")
    device.link(launcher.CURRENT, OLD)
    code, err = device.run(**{launcher.ENV_RELEASES: str(other)})
    assert code == 0, err
    assert device.log()[0]["env"]["EDGEFLEET_RELEASES"] == str(other)


def test_exit_75_starts_it_again(device: Device) -> None:
    device.release(OLD, "exit 75", "exit 75", "exit 0")
    device.link(launcher.CURRENT, OLD)
    code, err = device.run()
    assert code == 0, err
    assert device.starts() == [OLD, OLD, OLD]
    assert err.count("asked to be started again (exit 75)") == 2


def test_pending_release_becomes_current_on_trial(device: Device) -> None:
    device.release(OLD, f"stage {NEW} exit 75")
    device.release(NEW, "wait 0")
    device.link(launcher.CURRENT, OLD)
    device.start()
    device.wait_running(NEW)
    assert device.target(launcher.CURRENT) == NEW
    assert device.target(launcher.PREVIOUS) == OLD
    assert device.target(launcher.PENDING) is None
    assert device.file(launcher.TRIAL) == "1\n"  # its first start
    log = device.log()
    assert log[-1]["env"]["EDGEFLEET_MODEL_DIR"] == f"{device.r}/current/models"
    device.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    code, err = device.finish()
    assert code == 0, err
    assert f"edgefleet launch: switched to {NEW} (previous: {OLD})" in err
    assert device.starts() == [OLD, NEW]


def test_failing_release_is_rolled_back_after_its_trial_starts(device: Device) -> None:
    device.release(OLD, f"stage {NEW} exit 75", "wait 0")
    device.release(NEW, "exit 1")
    device.link(launcher.CURRENT, OLD)
    device.start()
    device.wait_running(OLD, timeout=30)  # the old release again, after NEW's three starts
    assert device.starts() == [OLD] + [NEW] * launcher.MAX_TRIAL_STARTS + [OLD]
    assert device.target(launcher.CURRENT) == OLD
    assert device.file(launcher.ROLLED_BACK) == f"{NEW}\n"
    assert device.file(launcher.TRIAL) is None
    device.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    code, err = device.finish()
    assert code == 0, err
    assert err.count("exited 1 while on trial; starting again in 1 s") == 3
    assert f"edgefleet launch: rolled back from {NEW} to {OLD}" in err


def test_trial_starts_from_the_environment(device: Device) -> None:
    device.release(OLD, f"stage {NEW} exit 75", "exit 0")
    device.release(NEW, "exit 1")
    device.link(launcher.CURRENT, OLD)
    code, err = device.run(**{launcher.ENV_TRIAL_STARTS: "1"})
    assert code == 0, err
    assert device.starts() == [OLD, NEW, OLD]
    assert device.file(launcher.ROLLED_BACK) == f"{NEW}\n"


def test_release_that_commits_stays(device: Device) -> None:
    """NEW fails its first start, deletes R/trial on its second (healthy) and asks for a
    restart, then stops: it is current, not on trial, and OLD never ran again."""
    device.release(OLD, f"stage {NEW} exit 75")
    device.release(NEW, "exit 1", "commit exit 75", "exit 0")
    device.link(launcher.CURRENT, OLD)
    code, err = device.run()
    assert code == 0, err
    assert device.starts() == [OLD, NEW, NEW, NEW]
    assert device.target(launcher.CURRENT) == NEW
    assert device.file(launcher.TRIAL) is None
    assert device.file(launcher.ROLLED_BACK) is None


@pytest.mark.parametrize("code", [launcher.CONFIG_EXIT, 3])
def test_exit_without_a_loop(device: Device, code: int) -> None:
    """Off trial, a failure is systemd's to restart (a config error, never: the unit's
    RestartPreventExitStatus)."""
    device.release(NEW, f"exit {code}")
    device.link(launcher.CURRENT, NEW)
    got, err = device.run()
    assert got == code, err
    assert device.starts() == [NEW]
    assert device.file(launcher.TRIAL) is None


def test_a_new_release_that_refuses_the_config_is_rolled_back(device: Device) -> None:
    """On trial a config error counts a failed start: the configuration is the one the
    previous release ran with, so the new release is the one at fault."""
    device.release(OLD, f"stage {NEW} exit 75", "exit 0")
    device.release(NEW, f"exit {launcher.CONFIG_EXIT}")
    device.link(launcher.CURRENT, OLD)
    code, err = device.run()
    assert code == 0, err
    assert device.starts() == [OLD] + [NEW] * launcher.MAX_TRIAL_STARTS + [OLD]
    assert device.target(launcher.CURRENT) == OLD
    assert device.file(launcher.ROLLED_BACK) == f"{NEW}\n"


@pytest.mark.parametrize(
    ("shell", "signum"),
    [("sh", signal.SIGTERM), ("sh", signal.SIGINT), ("bash", signal.SIGTERM)],
)
def test_signal_is_forwarded_and_its_exit_code_returned(
    device: Device, shell: str, signum: signal.Signals
) -> None:
    """On trial, where a failing child would be started again: a stop request ends the loop."""
    require_tools(shell)  # sh (dash) and bash are in every Debian base; a clear failure if not
    device.release(OLD, "exit 0")
    device.release(NEW, "wait 7")
    device.link(launcher.CURRENT, OLD)
    device.link(launcher.PENDING, NEW)
    device.start("--config", "c.yaml", shell=shell)
    device.wait_running(NEW)
    device.proc.send_signal(signum)  # type: ignore[union-attr]
    code, err = device.finish()
    assert code == 7, err
    assert device.log()[-1] == {"version": NEW, "signal": signum.name}
    assert device.starts() == [NEW]


def test_pending_without_a_release_is_refused(device: Device) -> None:
    device.release(OLD, "exit 0")
    device.link(launcher.CURRENT, OLD)
    device.link(launcher.PENDING, "9.9.9")
    code, err = device.run()
    assert code == 0, err
    assert device.starts() == [OLD]
    assert device.target(launcher.CURRENT) == OLD
    assert device.target(launcher.PENDING) is None
    assert device.file(launcher.ROLLED_BACK) == "9.9.9\n"
    assert "pending release '9.9.9' has no venv/bin/edgefleet" in err


def test_rollback_cut_short_is_finished(device: Device) -> None:
    """Power lost after current went back but before R/trial was removed."""
    device.release(OLD, "exit 0")
    device.link(launcher.CURRENT, OLD)
    device.link(launcher.PREVIOUS, OLD)
    (device.r / launcher.TRIAL).write_text(f"{launcher.MAX_TRIAL_STARTS}\n")
    (device.r / launcher.ROLLED_BACK).write_text(f"{NEW}\n")
    code, err = device.run()
    assert code == 0, err
    assert device.starts() == [OLD]
    assert device.file(launcher.TRIAL) is None
    assert device.file(launcher.ROLLED_BACK) == f"{NEW}\n"


def test_no_release_is_a_config_error(device: Device) -> None:
    code, err = device.run()
    assert code == launcher.CONFIG_EXIT
    assert "edgefleet launch: no release to start" in err
