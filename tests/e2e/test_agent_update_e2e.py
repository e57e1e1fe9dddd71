"""Over-the-air agent updates, end to end with real processes and real bundles: a hub, a broker,
and a device made as a Pi's first boot makes it (the x86_64 bundle installed by its own
install.sh with no package index, the agent started by the bundle's launcher, enrolled with a
token). The operator uploads releases to the hub and asks the device to install them:

1. 0.1.1, a real build of this project under another version: staged, switched to, kept once
   healthy; the device replies from the new version and reports it in its status.
2. 0.1.2, built to crash as soon as the agent starts: the launcher rolls back to 0.1.1 after
   three starts, and 0.1.1 replies with the failure.
3. 0.1.2 again after its stored bytes were altered at the hub: refused as `tampered` before
   anything is installed; a release signed by another key: refused as `bad_signature`.

Slow (three bundle builds, three offline installs): in `make test-long`."""

import base64
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract import AgentRelease, AgentUpdateArgs, Command, Topics, encode
from edge_agent import launcher
from edgefleet.procs import spawn, stop_process
from edgefleet.procs.wait import wait_until
from tests.deploy.bundles import build_variant, extract, x86_64_bundle
from tests.deploy.hubproc import Hub, running_hub
from tests.e2e.test_bundle_e2e import SYSTEM_PYTHON, agent_env, offline_env
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe
from tests.fixtures.requires import require_tools

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.long]
__all__ = ["x86_64_bundle"]  # the session fixture

T = Topics()
UPDATE_TIMEOUT = 240.0  # download of ~150 MB + an offline pip install + a start, on 2 busy cores
SETTLE_S = 2.0


def crash_on_start(src: Path) -> None:
    """A release whose agent fails at once: it installs and passes `--validate-config`, then
    dies as it starts serving (the case only a rollback can fix)."""
    agent = src / "edge_agent" / "agent.py"
    text = agent.read_text()
    anchor = "    async def run(self) -> None:\n"
    assert anchor in text
    agent.write_text(text.replace(anchor, anchor + '        raise RuntimeError("broken")\n', 1))


def release_for(hub: Hub, tarball: Path) -> dict[str, Any]:
    with hub.client() as c:
        r = c.post(
            "/api/v1/agent-releases",
            content=tarball.read_bytes(),
            headers={"Content-Type": "application/gzip"},
            timeout=120,
        )
    assert r.status_code == 201, r.text
    release: dict[str, Any] = r.json()
    return release


def ask_update(hub: Hub, device: str, version: str) -> str:
    with hub.client() as c:
        r = c.post(
            f"/api/v1/devices/{device}/agent-update",
            json={"version": version, "arch": "x86_64", "python": "3.11"},
        )
    assert r.status_code == 202, r.text
    return str(r.json()["cmd_id"])


def reply_to(hub: Hub, device: str, cmd_id: str, proc_log: Path) -> dict[str, Any]:
    """The device's reply to `cmd_id` as the hub stored it, waiting for it."""
    found: dict[str, Any] = {}

    def replied() -> bool:
        with hub.client() as c:
            rows = c.get(f"/api/v1/devices/{device}/commands", params={"limit": 50}).json()
        found.update(next((r for r in rows["items"] if r["cmd_id"] == cmd_id), {}))
        return found.get("ok") is not None

    try:
        wait_until(replied, None, timeout=UPDATE_TIMEOUT, what=f"the reply to {cmd_id}",
                   interval=0.5)  # fmt: skip
    except Exception:
        raise AssertionError(f"no reply; device log:\n{proc_log.read_text()[-4000:]}") from None
    return found


def status_version(probe: MqttProbe, device: str, after: float) -> Callable[[], str | None]:
    def latest() -> str | None:
        online = [m for m in probe.messages if m.topic == T.status(device) and m.payload
                  and m.arrived > after and m.json()["state"] == "online"]  # fmt: skip
        return str(online[-1].json()["agent_version"]) if online else None

    return latest


@pytest.fixture
def device(
    x86_64_bundle: Path, broker: BrokerProcess, tmp_path: Path
) -> Iterator[tuple[Hub, Path, Path, str]]:
    """(hub, releases dir, launcher log, device id): 0.1.0 installed and online."""
    require_tools(SYSTEM_PYTHON, "sha256sum")
    bundle = extract(x86_64_bundle, tmp_path / "card")
    prefix, config = tmp_path / "opt" / "edgefleet", tmp_path / "etc" / "agent.yaml"
    home = tmp_path / "home"
    home.mkdir()
    with running_hub(tmp_path / "hub", mqtt_port=broker.port) as hub:
        install(bundle, prefix, config, hub, home)
        data = yaml.safe_load(config.read_text())
        data["device_id"] = "ota-1"
        data["health_interval_s"] = 1
        data["updates"] = {"settle_s": SETTLE_S, "trial_s": 60}
        config.write_text(yaml.safe_dump(data))
        log = tmp_path / "launcher.log"
        proc = spawn([str(prefix / "launch"), "--config", str(config)], log=log,
                     env=agent_env(home))  # fmt: skip
        try:
            hub.wait_state("ota-1", "online", timeout=60, agent_log=log)
            yield hub, prefix / "releases", log, "ota-1"
        finally:
            code = stop_process(proc)
            assert code == 0, log.read_text()[-3000:]


def install(bundle: Path, prefix: Path, config: Path, hub: Hub, home: Path) -> None:
    """The bundle's install.sh as a flashed card's first boot runs it (no package index)."""
    done = subprocess.run(
        [str(bundle / "install.sh"), "--prefix", str(prefix), "--config", str(config),
         "--python", SYSTEM_PYTHON, "--hub", hub.url, "--token", hub.token("ota"),
         "--no-systemd"],
        capture_output=True, text=True, timeout=600, env=offline_env(home),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("broker", ["mosquitto"], indirect=True)  # MQTT is not the subject
def test_a_signed_release_installs_a_broken_one_rolls_back_a_tampered_one_is_refused(
    device: tuple[Hub, Path, Path, str],
    mqtt_probe: Callable[..., MqttProbe],
    tmp_path: Path,
) -> None:
    hub, releases, log, dev = device
    probe = mqtt_probe(T.all(dev))
    good = build_variant(tmp_path / "v011", "0.1.1")
    broken = build_variant(tmp_path / "v012", "0.1.2", crash_on_start)

    # 1. a good release: installed, switched to, kept; the reply comes from 0.1.1
    release = release_for(hub, good)
    assert release["version"] == "0.1.1"
    started = time.monotonic()
    cmd = ask_update(hub, dev, "0.1.1")
    reply = reply_to(hub, dev, cmd, log)
    took = time.monotonic() - started
    expected = {"version": "0.1.1", "previous": "0.1.0"}
    assert (reply["ok"], reply["result"]) == (True, expected), reply
    assert os.readlink(releases / launcher.CURRENT) == "0.1.1"
    assert os.readlink(releases / launcher.PREVIOUS) == "0.1.0"
    assert not (releases / launcher.TRIAL).exists()
    latest = status_version(probe, dev, 0.0)
    wait_until(lambda: latest() == "0.1.1", None, timeout=30, what="status of 0.1.1")
    hub.wait_state(dev, "online", timeout=30, agent_log=log)
    print(f"update to 0.1.1: {took:.1f} s from the request to the new version's reply")

    # 2. a release that crashes on start: rolled back to 0.1.1 by the launcher
    release_for(hub, broken)
    started = time.monotonic()
    cmd = ask_update(hub, dev, "0.1.2")
    reply = reply_to(hub, dev, cmd, log)
    took = time.monotonic() - started
    assert (reply["ok"], reply["code"]) == (False, "command_failed")
    assert reply["error"].startswith("rolled_back: 0.1.2 did not become healthy within 3 starts")
    assert os.readlink(releases / launcher.CURRENT) == "0.1.1"
    assert not (releases / launcher.ROLLED_BACK).exists()  # reported, then cleared
    assert log.read_text().count("RuntimeError: broken") == launcher.MAX_TRIAL_STARTS
    hub.wait_state(dev, "online", timeout=30, agent_log=log)
    print(f"rollback from 0.1.2: {took:.1f} s from the request to 0.1.1's failure reply")

    # 3a. the stored bundle altered at the hub: refused before anything is installed
    broken_sha = release_for_sha(hub, "0.1.2")
    with sqlite3.connect(tmp_path / "hub" / "hub.db") as db:
        (blob,) = db.execute(
            "SELECT data FROM artifacts WHERE sha256 = ?", (broken_sha,)
        ).fetchone()
        db.execute("UPDATE artifacts SET data = ? WHERE sha256 = ?",
                   (blob[:-1] + bytes([blob[-1] ^ 1]), broken_sha))  # fmt: skip
    cmd = ask_update(hub, dev, "0.1.2")
    reply = reply_to(hub, dev, cmd, log)
    assert (reply["ok"], reply["code"]) == (False, "command_failed")
    assert reply["error"].startswith("tampered: bundle sha256 ")
    assert not (releases / launcher.PENDING).exists()
    # only 0.1.1 is left: the rollback made it previous too, and pruned 0.1.0 and 0.1.2
    assert sorted(p.name for p in releases.iterdir() if not p.name.startswith(".")) == [
        "0.1.1", launcher.CURRENT, launcher.PREVIOUS,
    ]  # fmt: skip
    assert os.readlink(releases / launcher.PREVIOUS) == "0.1.1"

    # 3b. a release signed by a key the device did not pin
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = AgentRelease(version="0.1.3", arch="x86_64", python="3.11", sha256="0" * 64, size=1)
    other = Ed25519PrivateKey.generate()
    signature = base64.b64encode(other.sign(forged.signed_bytes())).decode()
    args = AgentUpdateArgs(release=forged, signature=signature, url="/nowhere")
    command = Command.of(args, "forged-1")
    probe.publish(T.cmd(dev, "agent-update"), encode(command))
    found = probe.wait_for(
        lambda m: m.topic == T.cmd_reply(dev, "agent-update") and m.json()["cmd_id"] == "forged-1",
        timeout=UPDATE_TIMEOUT,
    ).json()
    assert (found["ok"], found["code"]) == (False, "command_failed")
    assert found["error"].startswith("bad_signature: signature does not verify")
    assert os.readlink(releases / launcher.CURRENT) == "0.1.1"


def release_for_sha(hub: Hub, version: str) -> str:
    with hub.client() as c:
        rows = c.get("/api/v1/agent-releases").json()
    items = rows["items"] if isinstance(rows, dict) else rows
    return str(next(r["sha256"] for r in items if r["version"] == version))
