"""A device that hangs up while the hub reads its request body (a cascade giving up at its
timeout under load) is logged as gone, not as the hub's own unhandled error (which it was:
88 tracebacks in one end-to-end run)."""

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from tests.federated.conftest import basic, hub_settings, serve


async def test_a_client_that_hangs_up_mid_body_is_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = hub_settings(tmp_path, cloud_models=["engine-fault-cloud"])
    caplog.set_level(logging.INFO, logger="cloud_hub.api.errors")
    async for hub in serve(settings):
        secret = await hub.enroll("engine-00")
        auth = basic("engine-00", secret)["Authorization"]
        head = (
            "POST /api/v1/infer/engine-fault-cloud HTTP/1.1\r\nHost: hub\r\n"
            f"Authorization: {auth}\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", settings.port)) as sock:
            sock.sendall(head.encode() + b'{"rpm": 1')  # 10 of the 1,000 bytes announced
        async with asyncio.timeout(10):
            while True:  # the server's log: no push to wait on
                if any("client went away" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.05)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert (await hub.client.get("/healthz")).status_code == 200  # and it serves on
