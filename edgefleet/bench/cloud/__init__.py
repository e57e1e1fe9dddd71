"""`edgefleet bench cloud`: the hub's inference, batched vs one at a time (docs/benchmarks.md).

The hub's own batcher (`cloud_hub.inference.batcher.ModelWorker`, in process, no HTTP) is fed
`--images` requests at once, `--rounds` times, with `max_batch` 1 (every request alone) and
`--batch` (the hub's default, 8): images per second, images per CPU-second of the process
(what a core buys) and the batches it actually formed. Face models get generated images
(`models.datasets.faces`), engine models readings (`models.datasets.engine`).
"""

from edgefleet.bench.cloud.run import CloudBenchConfig, run_cloud_bench

__all__ = ["CloudBenchConfig", "run_cloud_bench"]
