"""The demo's simulated sensors end when told, without relying on their task's cancel (which
aiomqtt's QoS 1 publish can swallow on Python 3.11): a unit test of the loop, with a recording
client in place of MQTT."""

import asyncio

from contract import Topics
from edgefleet.demo import sensors


class Recorder:
    def __init__(self, stop_after: int, done: asyncio.Event) -> None:
        self.topics: list[str] = []
        self.stop_after, self.done = stop_after, done

    async def publish(self, topic: str, payload: bytes, qos: int) -> None:
        self.topics.append(topic)
        if len(self.topics) == self.stop_after:
            self.done.set()


async def test_the_simulated_sensors_stop_when_done_is_set() -> None:
    done = asyncio.Event()
    camera = Recorder(4, done)
    async with asyncio.timeout(5):  # would publish forever if `done` were not read
        await sensors.camera(camera, Topics(), [b"frame"], 0.003, done)
    assert len(camera.topics) == 6  # it ends the cycle (three topics) it was told in
    microphone = Recorder(2, done := asyncio.Event())
    async with asyncio.timeout(5):
        await sensors.microphone(microphone, Topics(), [("clip", b"wav")], 0.001, done)
    assert len(microphone.topics) == 2
