"""`edgefleet bench fl`: federated learning on the engine-fault model (docs/benchmarks.md).

Live part (real MQTT, real HTTP, real SQL): a broker process (Mosquitto, else amqtt), the hub
on a free loopback port with SQLite, 100 simulated clients - each its own MQTT session
subscribed to its `cmd/fl-train`, training its non-IID engine partition and uploading over
HTTP. Measured: aggregation time per round (hub side, from SQL), bytes per update fp32 vs
int8, accuracy per round of the published versions.

Simulated part (same training and aggregation functions, in process, so many rounds and
variants fit in a minute): FedAvg on non-IID engines vs centralised training on the pooled
data vs local-only, DP noise levels, 2 of 10 clients poisoned under FedAvg vs robust
aggregation.

Modules: `config`; measurement in `live` and `sim`; the targets in `checks`; tables and
plots in `report`; `run`.
"""

from edgefleet.bench.fl.config import FlBenchConfig
from edgefleet.bench.fl.run import main, run_fl_bench

__all__ = ["FlBenchConfig", "main", "run_fl_bench"]
