"""Debian's nginx as a child process in front of hub replicas, with `edgefleet proxy`'s
configuration (deploy/proxy/nginx.py); pid, logs and temp files in its work directory."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from cloud_hub.serving import free_port
from deploy.proxy.nginx import Upstreams, render
from edgefleet.procs.wait import StartError, port_open, wait_until

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
            try:
                wait_until(lambda: port_open(port), proc, timeout=timeout_s, what="nginx")
            except StartError as exc:
                raise StartError(f"{exc}: {(workdir / 'stderr.log').read_text()[-2000:]}") from None
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(10)
