"""Edge measurement without MQTT: raw `invoke()` and the in-process pipeline, one thread."""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgefleet.bench.edge.config import EdgeBenchConfig
from edgefleet.bench.stats import Summary, bounded


def _runtimes(pipeline: Any) -> list[Any]:
    """The `Runtime` objects a pipeline holds (as attributes, or in lists of word models)."""
    from models.runtimes import Runtime

    found: list[Any] = []
    for value in vars(pipeline).values():
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            rt = item if isinstance(item, Runtime) else getattr(item, "runtime", None)
            if isinstance(rt, Runtime) and rt not in found:
                found.append(rt)
    return found


@dataclass
class InvokeStats:
    latency: Summary
    per_request: float  # invoke() calls per pipeline run


def measure_invoke(model: str, payload: bytes, cfg: EdgeBenchConfig) -> InvokeStats:
    """Every `Runtime.invoke()` the pipeline makes on the real input, timed one by one."""
    from models.pipelines import load_pipeline

    pipeline = load_pipeline(model)
    times: list[float] = []
    runtimes = _runtimes(pipeline)
    if not runtimes:
        return InvokeStats(Summary.of([]), math.nan)
    clock = time.perf_counter

    def timed(invoke: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*arrays: Any) -> Any:
            t0 = clock()
            result = invoke(*arrays)
            times.append((clock() - t0) * 1000)
            return result

        return wrapper

    for _ in range(cfg.warmup):
        pipeline.run(payload)
    for rt in runtimes:
        rt.invoke = timed(rt.invoke)
    runs = 0
    for _ in bounded(cfg.invoke_requests, cfg.time_limit_s):
        pipeline.run(payload)
        runs += 1
        if len(times) >= cfg.invoke_requests:
            break
    return InvokeStats(Summary.of(times), len(times) / runs if runs else math.nan)


@dataclass
class InProcess:
    latency: Summary
    stages_p50: dict[str, float]
    rate: float  # back-to-back run() per second
    rate_n: int


@functools.cache
def bench_pipeline(model: str) -> Any:
    """The model's pipeline in the bench process, loaded once: the in-process level and the
    in-process rate paired with each MQTT burst run on the same instance."""
    from models.pipelines import load_pipeline

    pipeline = load_pipeline(model)
    pipeline.doubt_head = None  # as in the bench's agents: not in cascade mode, no doubt computed
    return pipeline


def measure_in_process(model: str, payload: bytes, cfg: EdgeBenchConfig) -> InProcess:
    pipeline = bench_pipeline(model)
    for _ in range(cfg.warmup):
        pipeline.run(payload)
    stages: dict[str, list[float]] = {
        "decode": [],
        "preprocess": [],
        "infer": [],
        "postprocess": [],
    }
    total: list[float] = []
    clock = time.perf_counter
    for _ in bounded(cfg.requests, cfg.time_limit_s):
        t0 = clock()
        x = pipeline.decode(payload)
        t1 = clock()
        inputs = pipeline.preprocess(x)
        t2 = clock()
        raw = pipeline.infer(inputs)
        t3 = clock()
        pipeline.postprocess(raw, x)
        t4 = clock()
        for name, a, b in (
            ("decode", t0, t1),
            ("preprocess", t1, t2),
            ("infer", t2, t3),
            ("postprocess", t3, t4),
        ):
            stages[name].append((b - a) * 1000)
        total.append((t4 - t0) * 1000)
    rate, done = in_process_rate(pipeline, payload, cfg)
    return InProcess(
        Summary.of(total), {k: statistics.median(v) for k, v in stages.items() if v}, rate, done
    )


def in_process_rate(pipeline: Any, payload: bytes, cfg: EdgeBenchConfig) -> tuple[float, int]:
    """(back-to-back `run()` calls per second, how many ran): `throughput_requests` of them,
    bounded by `time_limit_s`."""
    n = 0
    start = time.perf_counter()
    for n in bounded(cfg.throughput_requests, cfg.time_limit_s):  # noqa: B007
        pipeline.run(payload)
    elapsed = time.perf_counter() - start
    done = n + 1
    return (done / elapsed if elapsed > 0 else math.nan), done
