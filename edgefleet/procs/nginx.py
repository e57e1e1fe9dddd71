"""Debian's nginx as a child process in front of hub replicas, with `edgefleet proxy`'s
configuration (deploy/proxy/nginx.py); pid, logs and temp files in its work directory."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from cloud_hub.serving import free_port
from deploy.proxy.nginx import Upstreams, render
from edgefleet.procs.wait import StartError

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
INSTALL_HINT = "nginx not found: `make setup` installs Debian's nginx package"


@contextlib.contextmanager
def nginx(ingest: list[str], api: list[str], workdir: Path, timeout_s: float = 10) -> Iterator[str]:
    """nginx on a free loopback port before the `ingest` and `api` replicas (host:port each);
    yields its URL once it accepts connections, stops it after."""
    if not Path(NGINX).exists():
        raise StartError(INSTALL_HINT)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(render(Upstreams(ingest, api, f"127.0.0.1:{port}"), runtime_dir=workdir))
    with (workdir / "stderr.log").open("wb") as stderr:
        proc = subprocess.Popen(
            [NGINX, "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"], stderr=stderr
        )
        try:
            _wait_listening(port, proc, timeout_s, workdir)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(10)


def _wait_listening(
    port: int, proc: subprocess.Popen[bytes], timeout_s: float, where: Path
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"nginx exited: {(where / 'stderr.log').read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise StartError(f"nginx not listening on {port} within {timeout_s} s")
