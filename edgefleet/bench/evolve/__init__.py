"""`edgefleet bench evolve`: edge-cloud co-evolution, simulated in process (docs/benchmarks.md).

Two tasks. Engine faults (here, `sim`): each
round, every device answers a batch of new readings of its own engine with its current model
and, as the cascade does, asks the hub's model (`engine-fault-cloud`) about the readings it is
unsure of (top-class probability <= `band`) and about a random 10 % of the others (the
cascade's `spot_checks`); it keeps those readings with the hub's answer as its label
(distillation: no human labels), trains on what it kept from the fleet's current
version, and the hub averages the changes (FedAvg, weighted by samples kept). The hub's quality
gate then compares the candidate with the serving version on its validation set and publishes
it only if it is not worse by more than `max_regression` (the same rule and set as a real
round's, cloud_hub/federated/finalize.py). The same training and aggregation functions as the
agents and the hub; no broker, no HTTP (`bench fl`'s live part measures those).

Measured on a held-out set of engines no model, device or gate ever saw: the device model's
accuracy per round (edge-only), the share of readings the cascade sends at the band, and the
share it would need to send to match round 0's cascade accuracy ("equal accuracy").

Faces and wake words (`vision`, `voice`; `--no-vision`, `--no-voice` to skip): the frozen
device model gets a trainable head (a re-scorer of the face detector's candidates, a judge
of the wake-word model's detections and near-detections), taught by the hub's answers in the
same round loop (`heads`).

Modules: `config`; the engine simulation and its latency figure in `sim`; the head round loop
and scoring in `heads`, the two head tasks in `vision` and `voice`; the targets in `checks`;
tables and plots in `report`; `run`.
"""

from edgefleet.bench.evolve.config import EvolveBenchConfig
from edgefleet.bench.evolve.run import main, run_evolve_bench

__all__ = ["EvolveBenchConfig", "main", "run_evolve_bench"]
