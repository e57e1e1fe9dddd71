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
    ENGINE,
    SCENARIO_TITLES,
    VISION,
    VOICE,
    OffloadBenchConfig,
)
from edgefleet.bench.offload.fleet import OffloadFleet, busy, scenario
from edgefleet.bench.offload.scoring import Tally, VoiceLabel, score
from edgefleet.bench.report import say

Key = tuple[str, str, str]  # (scenario, mode, data kind)


@dataclass
class Sample:
    kind: str
    payload: bytes
    label: Any  # vision: list of true boxes; voice: VoiceLabel; engine: the fault class


def load_samples(cfg: OffloadBenchConfig) -> tuple[dict[str, list[Sample]], list[str]]:
    """Face images, speech clips (none without espeak-ng) and engine readings; notes."""
    from models.datasets.faces import load_faces

    notes: list[str] = []
    samples = {
        VISION: [Sample(VISION, s.jpeg, list(s.boxes)) for s in load_faces(cfg.faces, cfg.seed)],
        VOICE: [],
        ENGINE: engine_readings(cfg.readings, cfg.seed) if cfg.readings else [],
    }
    if cfg.voice and cfg.clips:
        from models.datasets.speech import espeak_available, load_speech

        if espeak_available():
            clips = load_speech(cfg.clips, seed=cfg.seed, voice=cfg.clip_voice)
            samples[VOICE] = [
                Sample(VOICE, c.wav, VoiceLabel(c.label, c.spec.kind == "near_miss")) for c in clips
            ]
            if cfg.clip_voice:
                notes.append(f"voice: every clip spoken by {cfg.clip_voice}")
        else:
            notes.append("voice skipped: espeak-ng is not installed")
    return samples, notes


def engine_readings(n: int, seed: int) -> list[Sample]:
    """`n` JSON readings of 4 engines neither engine model was trained on (all modes and
    faults), labelled with their fault class; the label is not in the payload."""
    from models.datasets.engine import generate_records, iid_profile

    records = [
        r for i in range(4) for r in generate_records(iid_profile(i, seed=seed + 5000), -(-n // 4))
    ]
    random.Random(seed).shuffle(records)
    out = []
    for record in records[:n]:
        label = record.pop("fault_status")
        out.append(Sample(ENGINE, json.dumps(record).encode(), int(label)))
    return out


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
                got = run_set(kind, items, cfg, fleet)
                for mode, tally in got.items():
                    tallies[(name, mode, kind)] = tally
    return tallies


def _ask(client: Client, device: str, model: str, payload: bytes) -> tuple[float, dict[str, Any]]:
    latency, body = request(client, device, model, payload)
    return latency, json.loads(body)


def run_set(
    kind: str, samples: Sequence[Sample], cfg: OffloadBenchConfig, fleet: OffloadFleet
) -> dict[str, Tally]:
    """One data set in one scenario: each sample asked of the modes in a shuffled order."""
    client, devices, proxies = fleet.client, fleet.devices, fleet.proxies
    model = fleet.models[kind]
    tallies = {m: Tally() for m in devices}
    for sample in samples[: cfg.warmup]:
        for device in devices.values():
            with contextlib.suppress(TimeoutError):
                _ask(client, device, model, sample.payload)
    sent = {m: proxies[m].sent if m in proxies else 0 for m in devices}
    cpu = fleet.cpu_seconds()
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
    cpu_after = fleet.cpu_seconds()
    for mode in devices:
        if mode in proxies:
            tallies[mode].bytes_sent = proxies[mode].sent - sent[mode]
        if mode in cpu and mode in cpu_after:
            tallies[mode].device_cpu_s = cpu_after[mode] - cpu[mode]
    return tallies
