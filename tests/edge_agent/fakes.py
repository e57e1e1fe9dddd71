"""A tiny fake pipeline and link for unit tests of the agent (no models, no broker)."""

import asyncio
import threading
from collections.abc import Callable

from pydantic import BaseModel

from contract import ErrorCode, Face, FaceDetectionOutput, WakeWordOutput
from edge_agent.messages import Outbound


class FakeInputError(ValueError):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class FakePipeline:
    """`face`: one face; `word`: wake word; `none`: nothing; `bad`: bad_image; `boom`: crash;
    `hold`: blocks until `release` is set."""

    version = "fake-1"

    def __init__(self, model_id: str = "fake-face") -> None:
        self.model_id = model_id
        self.release = threading.Event()
        self.entered = threading.Event()  # a `hold` job is running
        self.calls = 0

    def run(self, payload: bytes) -> BaseModel:
        self.calls += 1
        if payload.startswith(b"bad"):
            raise FakeInputError(ErrorCode.BAD_IMAGE, "cannot decode image")
        if payload.startswith(b"boom"):
            raise RuntimeError("kaput")
        if payload.startswith(b"hold"):
            self.entered.set()
            self.release.wait(5)
        if payload.startswith(b"word"):
            return WakeWordOutput(
                detected=True, wake_word="okay_nabu", probability=0.97, duration_s=1.2
            )
        faces = [Face(box=(1, 2, 3, 4), score=0.9)] if payload.startswith(b"face") else []
        return FaceDetectionOutput(faces=faces, image_size=(10, 10))


class FakeLink:
    """Records what the agent publishes; `run` idles like a connected session."""

    def __init__(self) -> None:
        self.published: list[Outbound] = []
        self.closed_with: Outbound | None = None
        self.changed = asyncio.Event()

    connected = True

    def publish(self, message: Outbound, on_ack: Callable[[], None] | None = None) -> bool:
        """Published and acknowledged at once."""
        self.published.append(message)
        self.changed.set()
        if on_ack is not None:
            on_ack()
        return True

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def close(self, last: Outbound | None) -> None:
        self.closed_with = last

    async def wait_for(self, count: int, within_s: float = 5.0) -> list[Outbound]:
        async with asyncio.timeout(within_s):
            while len(self.published) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.published
