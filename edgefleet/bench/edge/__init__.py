"""`edgefleet bench edge`: what MQTT costs on top of local inference (docs/benchmarks.md).

Per model, three levels, each measured sequentially (one request at a time: p50/p99) and,
where it makes sense, pipelined (a bounded window of requests in flight: sustained rate):

1. `invoke`: each `Runtime.invoke()` the pipeline makes on the real input, timed alone (for
   wakeword-lite one 30 ms feature step of one word model - a clip needs many).
2. `in-process`: decode + preprocess + `invoke()` + postprocess (`Pipeline` stages, no MQTT);
   its rate is back-to-back `run()` calls on one thread, like one agent worker.
3. `mqtt`: a real `edgefleet agent` process on loopback; the request is published on
   `{d}/infer/{m}/{rid}` and the clock stops when `{d}/result/{m}/{rid}` arrives. Against the
   embedded amqtt (`edgefleet broker`) and Mosquitto, each a subprocess on a free port.

Plus the agent's footprint per broker: cold start (process spawn -> first result received)
and RSS after loading the light models (face-detect-lite + wakeword-lite) and serving both.

Inputs: a 640x480 JPEG with one face (`models.datasets.faces.face_image`) and a 1.8 s espeak-ng
"okay nabu" clip (`models.datasets.speech.wake_clip`). Every loop is bounded in count and time.

Modules: `config`, `inputs`; measurement in `compute` (no MQTT) and `mqtt`; the targets in
`checks`; rows, notes and plots in `report`; `run` puts them together.
"""

from edgefleet.bench.edge.config import EdgeBenchConfig
from edgefleet.bench.edge.inputs import bench_input
from edgefleet.bench.edge.run import run_edge_bench

__all__ = ["EdgeBenchConfig", "bench_input", "run_edge_bench"]
