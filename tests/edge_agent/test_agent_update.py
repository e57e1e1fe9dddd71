"""The device side of agent updates, without the network: what the launcher leaves is read
right (a trial to end, a rollback to report), old releases are pruned once a version is kept,
refusals that need no download, and the `logs` ring's size cap. The whole path (bundle, hub,
launcher, real processes) is tests/e2e/test_agent_update_e2e.py."""

import contextlib
import json
import os
import platform
import sys
from pathlib import Path

import pytest

from contract import AgentRelease, AgentUpdateArgs, CommandError, ErrorCode, Topics
from edge_agent import launcher
from edge_agent.agent_update import Refused, Staged, Trial, Updater, running_version
from edge_agent.config import AgentConfig
from edge_agent.logring import LogRing
from tests.contract.samples import AGENT_UPDATE


def releases(tmp_path: Path, *versions: str) -> Path:
    root = tmp_path / "releases"
    for v in versions:
        (root / v / "venv" / "bin").mkdir(parents=True)
    return root


def config(root: Path | None, **updates: object) -> AgentConfig:
    section = {"releases_dir": str(root), **updates} if root else dict(updates)
    return AgentConfig(device_id="d1", models=["face-detect-lite"], updates=section)


def test_keeping_a_version_replies_success_and_prunes_all_but_current_and_previous(
    tmp_path: Path,
) -> None:
    root = releases(tmp_path, "0.0.9", "0.1.0", "0.2.0", ".staging-abc")
    os.symlink("0.2.0", root / launcher.CURRENT)
    os.symlink("0.1.0", root / launcher.PREVIOUS)
    (root / launcher.TRIAL).write_text("1\n")
    (root / launcher.UPDATE_JSON).write_bytes(Staged("cmd-7", "0.2.0", "0.1.0").dump())
    trial = Trial(root)
    assert trial.on_trial
    reply = trial.keep()
    assert reply is not None
    assert (reply.cmd_id, reply.ok) == ("cmd-7", True)
    assert reply.result == {"version": running_version(), "previous": "0.1.0"}
    assert not trial.on_trial
    left = sorted(p.name for p in root.iterdir())
    assert left == ["0.1.0", "0.2.0", launcher.CURRENT, launcher.PREVIOUS]


def test_a_rollback_is_reported_once_as_the_commands_failure(tmp_path: Path) -> None:
    root = releases(tmp_path, "0.1.0", "0.2.0")
    os.symlink("0.1.0", root / launcher.CURRENT)
    (root / launcher.ROLLED_BACK).write_text("0.2.0\n")
    (root / launcher.UPDATE_JSON).write_bytes(Staged("cmd-8", "0.2.0", "0.1.0").dump())
    trial = Trial(root)
    reply = trial.rolled_back()
    assert reply is not None
    assert (reply.cmd_id, reply.ok, reply.code) == ("cmd-8", False, ErrorCode.COMMAND_FAILED)
    assert reply.error is not None
    assert reply.error.startswith("rolled_back: 0.2.0 did not become healthy within 3 starts")
    assert trial.rolled_back() is None  # once
    assert not (root / launcher.UPDATE_JSON).exists()
    assert sorted(p.name for p in root.iterdir()) == ["0.1.0", launcher.CURRENT]  # 0.2.0 removed


def test_no_launcher_no_trial_and_agent_update_is_unsupported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(launcher.ENV_RELEASES, raising=False)
    updater = Updater(config(None))
    assert updater.root is None
    assert not Trial(None).on_trial
    assert Trial(None).rolled_back() is None
    with pytest.raises(CommandError) as info:
        updater.check_supported()
    assert info.value.code is ErrorCode.UNSUPPORTED


def test_the_launchers_environment_names_the_releases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(launcher.ENV_RELEASES, str(tmp_path))
    assert Updater(config(None)).check_supported() == tmp_path


def with_release(**change: object) -> AgentUpdateArgs:
    release = AGENT_UPDATE.release.model_dump() | change
    return AGENT_UPDATE.model_copy(update={"release": AgentRelease(**release)})


async def test_refusals_before_any_download(tmp_path: Path) -> None:
    here = {"arch": platform.machine(), "python": f"3.{sys.version_info[1]}"}
    updater = Updater(config(releases(tmp_path), max_bundle_bytes=1000))
    with pytest.raises(Refused, match=r"wrong_platform: release 0\.2\.0 is for sparc64"):
        await updater.stage("c1", with_release(**here | {"arch": "sparc64"}))
    with pytest.raises(Refused, match="too_large: bundle of 98765432 bytes"):
        await updater.stage("c1", with_release(**here))
    same = await updater.stage("c1", with_release(**here | {"version": running_version()}))
    assert same is not None
    assert same.version == same.previous == running_version()  # already runs: nothing to do
    assert not (tmp_path / "releases" / launcher.PENDING).exists()


def test_the_log_ring_keeps_the_newest_lines_under_the_byte_cap() -> None:
    import logging

    ring = LogRing(capacity=5)
    log = logging.getLogger("test.ring")
    log.addHandler(ring)
    log.setLevel(logging.INFO)
    try:
        for i in range(8):
            log.info("line %d %s", i, "x" * 40)
    finally:
        log.removeHandler(ring)
    lines, truncated = ring.tail(100)
    assert [line.split("line ")[1][0] for line in lines] == ["3", "4", "5", "6", "7"]
    assert not truncated
    lines, truncated = ring.tail(5, max_bytes=2 * (len(lines[-1]) + 1))
    assert truncated
    assert [line.split("line ")[1][0] for line in lines] == ["6", "7"]
    assert json.dumps(lines)  # plain strings


@pytest.mark.parametrize("has_data_filter", [True, False])
def test_bundles_extract_plain_files_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, has_data_filter: bool
) -> None:
    """Debian 12's Python 3.11.2 has no tarfile `data` filter: the same refusals by hand."""
    import io
    import tarfile

    from edge_agent.agent_update import _extract_data

    if not has_data_filter:
        monkeypatch.delattr(tarfile, "data_filter")

    def tarball(*members: tarfile.TarInfo) -> tarfile.TarFile:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            for m in members:
                tar.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
        raw.seek(0)
        return tarfile.open(fileobj=raw)

    def file(name: str) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mode = 1, 0o4755
        return info

    link = tarfile.TarInfo("b/evil")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with tarball(file("b/install.sh")) as tar:
        _extract_data(tar, tmp_path / "ok")
    assert (tmp_path / "ok" / "b" / "install.sh").stat().st_mode & 0o7777 == 0o755
    for bad in (file("../escape"), link):
        with tarball(bad) as tar, pytest.raises(tarfile.TarError):
            _extract_data(tar, tmp_path / "bad")
    assert not (tmp_path / "escape").exists()
    absolute = tarball(file("/abs-edgefleet-test"))
    with absolute, contextlib.suppress(tarfile.TarError):  # refused, or made relative
        _extract_data(absolute, tmp_path / "abs")
    assert not Path("/abs-edgefleet-test").exists()


async def test_a_version_never_healthy_exits_1_at_trial_s_and_a_healthy_one_is_kept(
    tmp_path: Path,
) -> None:
    """The trial's clock, with the agent's own callbacks: never RUNNING → exit status 1 at
    `updates.trial_s` (the launcher counts a failed start); RUNNING for `settle_s` → kept."""
    import asyncio

    from edge_agent.commands import Commands
    from edge_agent.federated import DeviceLearning
    from edge_agent.messages import Outbound

    root = releases(tmp_path, "0.1.0", "0.2.0")
    os.symlink("0.2.0", root / launcher.CURRENT)
    os.symlink("0.1.0", root / launcher.PREVIOUS)
    cfg = config(root, settle_s=0.2, trial_s=0.5)
    sent: list[Outbound] = []
    stops: list[int] = []

    def commands() -> Commands:
        learning = DeviceLearning(cfg, Topics(), sent.append)
        return Commands(cfg, Topics(), sent.append, learning, lambda: "running", stops.append)

    never = asyncio.Event()
    (root / launcher.TRIAL).write_text("1\n")
    (root / launcher.UPDATE_JSON).write_bytes(Staged("cmd-9", "0.2.0", "0.1.0").dump())
    await asyncio.wait_for(commands().trial_duty(lambda: 0.0, never.wait), 5)
    assert stops == [1]
    assert (root / launcher.TRIAL).exists()  # still on trial: the launcher decides
    assert sent == []

    started = asyncio.get_running_loop().time()
    connected = lambda: asyncio.get_running_loop().time() - started  # noqa: E731

    async def running() -> None:
        return None

    await asyncio.wait_for(commands().trial_duty(connected, running), 5)
    assert stops == [1]
    assert not (root / launcher.TRIAL).exists()
    (reply,) = sent
    assert reply.topic == Topics().cmd_reply("d1", "agent-update")
    assert json.loads(reply.payload)["cmd_id"] == "cmd-9"


async def test_an_install_that_overruns_is_refused_and_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    """install.sh's children (pip) hold its output open: a timeout kills the whole group, and
    the update is refused instead of the agent waiting for them."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    pids = tmp_path / "pids"
    (bundle / "install.sh").write_text(f"sleep 300 &\necho $! > {pids}\nsleep 300\n")
    updater = Updater(config(releases(tmp_path), install_timeout_s=0.5))
    with pytest.raises(Refused, match=r"install_failed: install\.sh --stage timed out"):
        await updater._install(bundle, tmp_path / "stage", "0.2.0")
    assert not running(int(pids.read_text()))  # killed with install.sh (at most a zombie)


def running(pid: int) -> bool:
    """Whether `pid` is a live process: neither gone nor a zombie awaiting its reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")
