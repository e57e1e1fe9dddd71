"""Over-the-air updates of the agent itself (docs/agent-updates.md).

The running agent only *stages*: it downloads the signed bundle, refuses it unless the
signature verifies with the pinned hub key and the bytes match the signed sha256 and size,
lets the bundle's own `install.sh --stage` build the new release beside the running one,
records who asked (`update.json`), marks it `pending` and exits with the launcher's restart
code. The launcher (deploy/bundle/launch.sh, not updated over the air) switches to it and
counts its starts; the new version is kept once it has stayed connected for `settle_s`
(`Trial.keep`), and its reply to the command goes out then. A version that crashes, or is
not kept within `trial_s`, is rolled back by the launcher after three starts, and the old
version replies with the failure. The file names and exit codes are edge_agent.launcher's.
"""

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from contract import AgentUpdateArgs, AgentUpdateResult, CommandError, CommandReply, ErrorCode
from edge_agent import launcher
from edge_agent.config import AgentConfig
from models.files import write_atomic
from models.training.manifest import SignatureError, verify

if TYPE_CHECKING:
    import tarfile

# tarfile, platform and shutil are imported where used: every agent imports this module at
# start-up (for its trial), few ever stage an update (0.4 MB of resident set).

log = logging.getLogger(__name__)

OUTPUT_TAIL = 2000  # characters of install.sh's output kept in a refusal
STAGING = ".staging-"  # prefix of a download being staged, inside the releases directory


class Refused(Exception):
    """A release the device will not install; `reason` leads the reply's error."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def running_version() -> str:
    """The agent's own version (what `status` reports, and what an update replaces)."""
    from edgefleet import __version__

    return __version__


def releases_dir(config: AgentConfig) -> Path | None:
    """Where releases live: the config's, else the launcher's environment, else None."""
    if config.updates.releases_dir is not None:
        return config.updates.releases_dir
    env = os.environ.get(launcher.ENV_RELEASES)
    return Path(env) if env else None


def _base_python() -> str:
    """The interpreter the running venv was made from (a venv's python is a symlink to it)."""
    return str(getattr(sys, "_base_executable", None) or sys.executable)


def _link(root: Path, name: str, target: str) -> None:
    """`root/name -> target`, replaced atomically (a temp link renamed over the old one)."""
    tmp = root / f".{name}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(root / name)


@dataclass(frozen=True, slots=True)
class Staged:
    """What the staging version leaves for the version that runs after the switch."""

    cmd_id: str
    version: str
    previous: str

    def dump(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def read(cls, path: Path) -> "Staged | None":
        try:
            doc = json.loads(path.read_text())
            return cls(str(doc["cmd_id"]), str(doc["version"]), str(doc["previous"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _extract_data(tar: "tarfile.TarFile", out: Path) -> None:
    """Extract regular files and directories under `out` only. Python's `data` filter where
    it exists; Debian 12's 3.11.2 predates it (3.11.4), so there the same rules by hand."""
    import tarfile

    if hasattr(tarfile, "data_filter"):
        tar.extractall(out, filter="data")
        return
    for member in tar.getmembers():
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
            raise tarfile.TarError(f"refusing {member.name!r}: not a plain file inside the bundle")
        member.mode &= 0o755  # no set-id bits, as the data filter
    tar.extractall(out)  # every member was checked above


def _remove(tree: Path) -> None:
    import shutil

    shutil.rmtree(tree, ignore_errors=True)


class Updater:
    """Stages signed releases into the launcher's releases directory."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.root = releases_dir(config)
        self._busy = asyncio.Lock()

    def check_supported(self) -> Path:
        if self.root is None:
            raise CommandError(
                ErrorCode.UNSUPPORTED,
                "agent-update: this agent was not started by the edgefleet launcher "
                f"(${launcher.ENV_RELEASES} unset, no updates.releases_dir); install it from a "
                "bundle (docs/deploy-install.md)",
            )
        return self.root

    async def stage(self, cmd_id: str, args: AgentUpdateArgs) -> AgentUpdateResult | None:
        """Stage `args.release`; None when it is pending (the caller exits for the switch), a
        result when that version already runs. Raises Refused with the reason otherwise."""
        root = self.check_supported()
        release, current = args.release, running_version()
        if release.version == current:
            return AgentUpdateResult(version=current, previous=current)
        import platform

        machine, python = platform.machine(), "{}.{}".format(*sys.version_info[:2])
        if (release.arch, release.python) != (machine, python):
            raise Refused(
                "wrong_platform",
                f"release {release.version} is for {release.arch} / Python {release.python}; "
                f"this device is {machine} / Python {python}",
            )
        if release.size > self.config.updates.max_bundle_bytes:
            raise Refused("too_large", f"bundle of {release.size} bytes over the limit")
        if self._busy.locked():
            raise Refused("busy", "another agent update is being staged")
        async with self._busy:
            work = root / f"{STAGING}{cmd_id[:16]}"
            try:
                self._check_signature(args)  # before a byte is downloaded
                tarball = await asyncio.to_thread(self._download, args, work)
                await asyncio.to_thread(self._check_bytes, args, tarball)
                bundle = await asyncio.to_thread(self._extract, args, tarball, work)
                await self._install(bundle, root, release.version)
            finally:
                await asyncio.to_thread(_remove, work)
            staged = Staged(cmd_id, release.version, current)
            write_atomic(root / launcher.UPDATE_JSON, staged.dump())
            _link(root, launcher.PENDING, release.version)
        log.info("agent %s staged; restarting into it (was %s)", release.version, current)
        return None

    def _download(self, args: AgentUpdateArgs, work: Path) -> Path:
        """Stream the bundle to `work` (in a worker thread: the loop keeps serving)."""
        import httpx  # only a device with a hub needs it (footprint: docs/agent.md)

        hub, auth = self.config.hub.url, self.config.hub_auth
        if hub is None or auth is None:
            raise Refused("no_hub", "hub.url and device credentials are needed to download")
        work.mkdir(parents=True, exist_ok=True)
        path, limit, size = work / "bundle.tar.gz", args.release.size, 0
        try:
            with (
                httpx.Client(base_url=hub, auth=auth, timeout=60) as client,
                client.stream("GET", args.url) as r,
            ):
                if r.status_code != 200:
                    raise Refused("download_failed", f"download answered {r.status_code}")
                with path.open("wb") as out:
                    for chunk in r.iter_bytes(1 << 20):
                        size += len(chunk)
                        if size > limit:
                            raise Refused("tampered", f"the bundle is over its signed size {limit}")
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise Refused("download_failed", f"download failed: {exc}") from None
        return path

    def _check_signature(self, args: AgentUpdateArgs) -> None:
        key = self.config.model_sync.public_key
        if not key:
            raise Refused("no_key", "no hub public key pinned (model_sync.public_key)")
        try:
            verify(args.release, args.signature, key)
        except SignatureError as exc:
            raise Refused("bad_signature", str(exc)) from None

    def _check_bytes(self, args: AgentUpdateArgs, tarball: Path) -> None:
        digest = hashlib.sha256()
        with tarball.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        size = tarball.stat().st_size
        if (digest.hexdigest(), size) != (args.release.sha256, args.release.size):
            raise Refused(
                "tampered",
                f"bundle sha256 {digest.hexdigest()} ({size} bytes) does not match the signed "
                f"release ({args.release.sha256}, {args.release.size} bytes)",
            )

    def _extract(self, args: AgentUpdateArgs, tarball: Path, work: Path) -> Path:
        """The bundle's directory, extracted with tarfile's `data` filter (no links out, no
        devices), after checking its manifest names the signed version and target."""
        import tarfile

        out = work / "bundle"
        try:
            with tarfile.open(tarball, "r:gz") as tar:
                _extract_data(tar, out)
            (bundle,) = [p for p in out.iterdir() if p.is_dir()]
            manifest = json.loads((bundle / "manifest.json").read_text())
        except (tarfile.TarError, OSError, ValueError) as exc:
            raise Refused("bad_bundle", f"not an edgefleet bundle: {exc}") from None
        r = args.release
        said = (manifest.get("version"), manifest.get("arch"), manifest.get("python"))
        if said != (r.version, r.arch, r.python):
            raise Refused("bad_bundle", f"the bundle's manifest says {said}, signed {r}")
        return bundle

    async def _install(self, bundle: Path, root: Path, version: str) -> None:
        python = str(self.config.updates.python or _base_python())
        command = ["sh", str(bundle / "install.sh"), "--stage", str(root), "--python", python]
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout kills pip with it
        )
        try:
            async with asyncio.timeout(self.config.updates.install_timeout_s):
                out, _ = await proc.communicate()
        except TimeoutError:
            # the whole group: a child left running (pip) would hold the output pipe open,
            # and the agent would wait for it instead of refusing the update
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.communicate()
            raise Refused("install_failed", "install.sh --stage timed out") from None
        if proc.returncode != 0:
            text = out.decode(errors="replace")[-OUTPUT_TAIL:]
            raise Refused("install_failed", f"install.sh --stage exited {proc.returncode}: {text}")
        if not (root / version / "venv" / "bin" / "edgefleet").exists():
            raise Refused("install_failed", f"install.sh left no {version}/venv/bin/edgefleet")


class Trial:
    """What the launcher left for this start: a trial to pass, or a rollback to report."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    @property
    def on_trial(self) -> bool:
        return self.root is not None and (self.root / launcher.TRIAL).exists()

    def rolled_back(self) -> CommandReply | None:
        """The failure reply for the command whose version the launcher rolled back (once);
        blocking file work: call it from a thread."""
        if self.root is None or not (self.root / launcher.ROLLED_BACK).exists():
            return None
        failed = (self.root / launcher.ROLLED_BACK).read_text().strip()
        staged = Staged.read(self.root / launcher.UPDATE_JSON)
        for name in (launcher.ROLLED_BACK, launcher.UPDATE_JSON):
            (self.root / name).unlink(missing_ok=True)
        self._prune()  # the failed release is of no further use
        log.error("agent %s did not come up healthy; rolled back to %s", failed, running_version())
        if staged is None:
            return None
        why = (
            f"rolled_back: {failed} did not become healthy within {launcher.MAX_TRIAL_STARTS} "
            f"starts; {running_version()} runs again"
        )
        return CommandReply.failure(staged.cmd_id, ErrorCode.COMMAND_FAILED, why)

    def _prune(self) -> None:
        """Remove every release but current and previous, and staging left by a crash."""
        assert self.root is not None
        root = self.root
        keep = {os.readlink(root / n) for n in (launcher.CURRENT, launcher.PREVIOUS)
                if (root / n).is_symlink()}  # fmt: skip
        for entry in root.iterdir():
            release = not entry.name.startswith(".") or entry.name.startswith(STAGING)
            if release and entry.is_dir() and not entry.is_symlink() and entry.name not in keep:
                _remove(entry)

    def keep(self) -> CommandReply | None:
        """End the trial: this version stays. The success reply for the command that
        installed it, if one did; releases other than current and previous are removed."""
        assert self.root is not None
        root = self.root
        (root / launcher.TRIAL).unlink(missing_ok=True)
        staged = Staged.read(root / launcher.UPDATE_JSON)
        (root / launcher.UPDATE_JSON).unlink(missing_ok=True)
        self._prune()
        log.info("agent %s kept after its trial", running_version())
        if staged is None:
            return None
        result = AgentUpdateResult(version=running_version(), previous=staged.previous)
        return CommandReply.success(staged.cmd_id, result)
