"""The aarch64 bundle, installed the way `install.sh` installs it (`--no-index` from its own
wheelhouse), runs the agent on arm64 Raspberry Pi OS Bookworm user space (Python 3.11.2)
under qemu-user: the agent comes online on a real Mosquitto and answers a face request and a
wake-word request with the bundle's own model files. `make test-long` (minutes under
emulation); the time each step took is printed."""

import subprocess
import sys
import tarfile
import time
from pathlib import Path

import cv2
import pytest

from contract import Topics
from deploy.bundle.build import Target
from edgefleet.procs.agent import agent_config, write_config
from edgefleet.procs.process import spawn, stop_process
from models.datasets.speech import wake_clip
from tests.deploy.arm64 import arm64_python, arm64_root
from tests.deploy.bundles import WHEEL_CACHE, build
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe
from tests.fixtures.requires import require_tools

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto, pytest.mark.long, pytest.mark.timeout(1800)]

T = Topics()
DEVICE = "pi-arm64"
PYTHON = "3.11"  # Raspberry Pi OS Bookworm's


def install(bundle: Path, site: Path) -> None:
    """The bundle's wheels into `site` for the target, without running target code (no
    binfmt_misc here to run an arm64 pip): pip resolves for the target's tags, offline."""
    (agent,) = bundle.glob("edgefleet-*.whl")
    platforms = [a for p in Target("aarch64", PYTHON).platforms for a in ("--platform", p)]
    wheels = ["--no-index", "--find-links", str(bundle / "wheelhouse"), "--only-binary=:all:"]
    tags = ["--python-version", PYTHON, "--implementation", "cp", "--abi", "cp311", *platforms]
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(site)]
    subprocess.run([*pip, *wheels, *tags, str(agent)], check=True, timeout=600)


def test_the_aarch64_bundle_runs_the_agent_on_arm64(
    tmp_path: Path, mosquitto_broker: BrokerProcess
) -> None:
    require_tools("qemu-aarch64-static", "debootstrap", "dpkg-deb")
    took: dict[str, float] = {}
    clock = time.monotonic()

    def step(name: str) -> None:
        nonlocal clock
        took[name] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()

    root = arm64_root()
    python = arm64_python(root)
    machine = subprocess.run(
        [*python, "-c", "import platform, sys; print(platform.machine(), *sys.version_info[:2])"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split()  # fmt: skip
    assert machine == ["aarch64", "3", "11"], machine
    step("arm64 user space")
    tarball = build("aarch64", tmp_path / "dist", python=PYTHON)
    with tarfile.open(tarball) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (bundle,) = (tmp_path / "unpacked").iterdir()
    step("bundle")
    site = tmp_path / "site"
    install(bundle, site)
    step("install")

    probe = MqttProbe(mosquitto_broker.host, mosquitto_broker.port).connect()
    probe.subscribe(T.all(DEVICE))
    config = agent_config(
        DEVICE,
        mosquitto_broker.port,
        models=("face-detect-lite", "wakeword-lite"),
        model_dir=str(bundle / "models"),
    )
    path = write_config(tmp_path / "agent.yaml", config)
    log = tmp_path / "agent.log"
    command = [*python, "-c", "from edgefleet.cli import main; main()", "agent", "--config"]
    env = {"PYTHONPATH": str(site), "EDGEFLEET_STATE_DIR": str(tmp_path / "state")}
    agent = spawn([*command, str(path)], log=log, env=env)
    try:
        online = probe.wait_for(
            lambda m: m.topic == T.status(DEVICE) and b'"online"' in m.payload, 300
        )
        assert online.json()["models"] == ["face-detect-lite", "wakeword-lite"]
        step("agent online")
        from skimage import data

        rgb = data.astronaut()  # type: ignore[no-untyped-call]
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert ok
        probe.publish(T.infer(DEVICE, "face-detect-lite", "face1"), jpeg.tobytes())
        face = probe.wait_for(T.result(DEVICE, "face-detect-lite", "face1"), 120).json()
        assert face["where"] == "edge"
        assert len(face["output"]["faces"]) == 1, face
        step("face result")
        probe.publish(T.infer(DEVICE, "wakeword-lite", "wake1"), wake_clip("okay_nabu").wav)
        wake = probe.wait_for(T.result(DEVICE, "wakeword-lite", "wake1"), 120).json()
        assert wake["output"]["detected"] is True, wake
        assert wake["output"]["wake_word"] == "okay_nabu"
        step("wake-word result")
    finally:
        stop_process(agent)
        probe.close()
    print(f"arm64 under qemu-user, seconds per step: {took}; wheel cache {WHEEL_CACHE}")
