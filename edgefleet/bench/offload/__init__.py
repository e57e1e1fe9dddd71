"""`edgefleet bench offload`: the design article's collaborative table, with our own models.

Rows: edge-only, cloud-only, adaptive and cascade (`offload.pipelines.<model>.mode` in each
agent's config); per row p50/p99 latency (request published -> result received over MQTT),
accuracy on labelled data generated here (docs/benchmarks.md), bytes sent to the cloud and model
size on the device, the agent's CPU time per request and the energy that is on a Raspberry Pi's
core. Three data sets:

* vision: `face-detect-lite` on the device, `face-detect-cloud` on the hub, composited images
  from `models.datasets.faces` (accuracy: share of true faces found with IoU >= 0.5);
* voice: `wakeword-lite` on the device, `wakeword-cloud` on the hub, espeak-ng clips from
  `models.datasets.speech` (detection rate on wake phrases, false alarms on the others);
* engine: `engine-fault` on the device, `engine-fault-cloud` on the hub, JSON readings of
  engines neither model was trained on (`models.datasets.engine`; share given the right class).

Then a summary in the design article's shape: edge-only / cloud-only / collaborative (cascade)
x p50, device model MB, accuracy, device energy per request (idle).

Four scenarios, in this order: `idle`; `cpu` (the device's CPU saturated by a bounded stress
process pinned to it, at a higher priority than the agents); `delay` (+300 ms round trip to
the hub through a loopback delay proxy); `down` (the hub process killed). A fifth, `gateway`
(opt-in, Mosquitto), in a fleet of its own: one site, a gateway agent serving the full models
on the hub's CPU, the device CPU saturated as in `cpu`, the hub +100 ms away; it compares
edge-only, cloud-only, gateway-only (an adaptive device cut off from the hub once it knows
the gateway) and adaptive, with where each mode's answers were computed.

Real processes: a broker (Mosquitto, else the embedded amqtt), the hub (`edgefleet hub`,
cloud models face-detect-cloud, wakeword-cloud, engine-fault-cloud), one agent per mode, all
agents pinned to one CPU (the "device"), each reaching the hub through its own proxy (which
counts the bytes). The four agents are asked in turn for each sample, in a shuffled order, so
background noise on a shared machine hits every mode alike. Every loop is bounded in count and time.

Modules: `config`; `scoring` (accuracy, pure); measurement in `fleet` (processes, scenarios)
and `measure`; the targets in `checks`; tables, notes and plots in `report`; `run`.
"""

from edgefleet.bench.offload.config import (
    ALL_MODES,
    ALL_SCENARIOS,
    ENGINE,
    GATEWAY,
    KINDS,
    MODES,
    SCENARIOS,
    VISION,
    VOICE,
    OffloadBenchConfig,
)
from edgefleet.bench.offload.run import run_offload_bench
from edgefleet.bench.offload.scoring import Tally, VoiceLabel, iou, match_faces, score

__all__ = [
    "ALL_MODES",
    "ALL_SCENARIOS",
    "ENGINE",
    "GATEWAY",
    "KINDS",
    "MODES",
    "SCENARIOS",
    "VISION",
    "VOICE",
    "OffloadBenchConfig",
    "Tally",
    "VoiceLabel",
    "iou",
    "match_faces",
    "run_offload_bench",
    "score",
]
