"""A loopback TCP proxy that delays traffic both ways and counts the bytes sent upstream."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from cloud_hub.serving import free_port


class DelayProxy:
    """A loopback TCP proxy adding `delay_ms` to every chunk in each direction, in a thread.

    `delay` (seconds, round trip) may be changed while it runs; `sent` counts the bytes
    forwarded to the target (what a device sends to the cloud, HTTP headers included); `cut`
    makes the target unreachable through it from then on."""

    def __init__(self, target_port: int, delay_ms: float = 0.0) -> None:
        self.target_port, self.delay = target_port, delay_ms / 1000.0
        self.sent = 0
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="delay-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()  # both ends of every open connection
        self.refusing = False

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("delay proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def cut(self) -> None:
        """Close every open connection and refuse new ones (for good): the target looks down
        to the client, as a link that went away does, while the target itself runs on."""

        def close_all() -> None:
            self.refusing = True
            for writer in list(self._writers):
                writer.close()

        self._loop.call_soon_threadsafe(close_all)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_w}
        try:
            await asyncio.gather(self._pipe(reader, up_w, True), self._pipe(up_r, writer))
        finally:
            self._writers -= {writer, up_w}

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool = False
    ) -> None:
        """Each chunk is delivered `delay` after it arrived (one-way latency, not serialised)."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(forward())
        try:
            while True:
                data = await reader.read(65536)
                if up:
                    self.sent += len(data)
                queue.put_nowait((time.monotonic() + self.delay / 2, data))
                if not data:
                    break
            await sender
        except (ConnectionError, asyncio.CancelledError):
            sender.cancel()
        finally:
            with contextlib.suppress(Exception):
                writer.close()
