"""The offload measurement: every labelled sample asked of every mode, in every scenario."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgefleet.bench.client import Client, request
from edgefleet.bench.offload.config import (
    EDGE_MODELS,
    SCENARIO_TITLES,
    VISION,
    VOICE,
    OffloadBenchConfig,
)
from edgefleet.bench.offload.fleet import OffloadFleet, busy, scenario
from edgefleet.bench.offload.scoring import Tally, score
from edgefleet.bench.report import say
from edgefleet.procs.delay import DelayProxy

Key = tuple[str, str, str]  # (scenario, mode, data kind)


@dataclass
class Sample:
    kind: str
    payload: bytes
    label: Any  # vision: list of true boxes; voice: wake word id or None


def load_samples(cfg: OffloadBenchConfig) -> tuple[list[Sample], list[Sample], list[str]]:
    """(face images, speech clips, notes); no clips without espeak-ng."""
    from models.datasets.faces import load_faces

    notes: list[str] = []
    faces = [Sample(VISION, s.jpeg, list(s.boxes)) for s in load_faces(cfg.faces, seed=cfg.seed)]
    clips: list[Sample] = []
    if cfg.voice and cfg.clips:
        from models.datasets.speech import espeak_available, load_speech

        if espeak_available():
            clips = [Sample(VOICE, c.wav, c.label) for c in load_speech(cfg.clips, seed=cfg.seed)]
        else:
            notes.append("voice skipped: espeak-ng is not installed")
    return faces, clips, notes


def measure_scenarios(
    cfg: OffloadBenchConfig,
    fleet: OffloadFleet,
    scenarios: Sequence[str],
    samples: dict[str, list[Sample]],
    device_load: dict[str, float],
    console: Any = None,
) -> dict[Key, Tally]:
    """Scenario by scenario (in order: `down` kills the hub), each data set in turn;
    `device_load` gets how busy the device CPU was before each scenario's requests."""
    tallies: dict[Key, Tally] = {}
    for name in scenarios:
        say(console, f"scenario {name}: {SCENARIO_TITLES[name]} ...")
        with scenario(name, cfg, fleet):
            device_load[name] = busy(fleet.device_cpus)
            for kind, items in samples.items():
                if not items:
                    continue
                got = run_set(kind, items, cfg, fleet.client, fleet.devices, fleet.proxies)
                for mode, tally in got.items():
                    tallies[(name, mode, kind)] = tally
    return tallies


def _ask(client: Client, device: str, model: str, payload: bytes) -> tuple[float, dict[str, Any]]:
    latency, body = request(client, device, model, payload)
    return latency, json.loads(body)


def run_set(
    kind: str,
    samples: Sequence[Sample],
    cfg: OffloadBenchConfig,
    client: Client,
    devices: dict[str, str],
    proxies: dict[str, DelayProxy],
) -> dict[str, Tally]:
    """One data set in one scenario: each sample asked of the modes in a shuffled order."""
    model = EDGE_MODELS[kind]
    tallies = {m: Tally() for m in devices}
    for sample in samples[: cfg.warmup]:
        for device in devices.values():
            with contextlib.suppress(TimeoutError):
                _ask(client, device, model, sample.payload)
    sent = {m: proxies[m].sent if m in proxies else 0 for m in devices}
    deadline = time.monotonic() + cfg.time_limit_s
    order = list(devices.items())
    shuffle = random.Random(f"{cfg.seed}-{kind}").shuffle
    for sample in samples:
        if time.monotonic() > deadline:
            break
        shuffle(order)  # no mode always follows the same one (and its after-answer work)
        for mode, device in order:
            tally = tallies[mode]
            try:
                latency, result = _ask(client, device, model, sample.payload)
            except TimeoutError:
                tally.lost += 1
                continue
            finally:  # a device answering sensors at a rate, not back to back (bounded)
                time.sleep(cfg.period_s / len(devices))
            if "output" not in result:
                tally.errors += 1
                continue
            tally.latencies.append(latency)
            score(kind, tally, sample.label, result)
    for mode in devices:
        if mode in proxies:
            tallies[mode].bytes_sent = proxies[mode].sent - sent[mode]
    return tallies
