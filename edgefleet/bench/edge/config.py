"""What `edgefleet bench edge` measures and with how many requests."""

from __future__ import annotations

from dataclasses import dataclass

from edgefleet.procs.broker import BROKERS, mosquitto_path

LIGHT_MODELS = ("face-detect-lite", "wakeword-lite")  # the agent whose footprint is measured
TARGET_MODEL = "face-detect-lite"  # the model and broker the targets are checked on
TARGET_BROKER = "mosquitto"


@dataclass
class EdgeBenchConfig:
    models: tuple[str, ...] = ("face-detect-lite", "face-detect-full", "wakeword-lite")
    brokers: tuple[str, ...] = BROKERS
    requests: int = 300  # sequential, per level
    throughput_requests: int = 600  # pipelined, per MQTT run (and back-to-back in-process)
    window: int = 16  # requests in flight while pipelining
    warmup: int = 20
    cold_starts: int = 3
    time_limit_s: float = 30.0  # cap of each measurement loop
    mqtt: bool = True
    plots: bool = True
    invoke_requests: int = 1000  # raw invoke() calls (cheap)
    workers: tuple[int, ...] = (1, 2)  # the agent's `workers_per_model` in the MQTT levels
    rounds: int = 5  # interleaved rounds of pipelined bursts (bench/edge/rates.py)
    load_requests: int = 2000  # pipelined with busy loops competing, for RSS under load (0: off)
    load_stress: int = 2  # busy-loop processes during that run
    load_settle_s: float = 11.0  # then RSS again: one period of the agent's memory duty (10 s)

    def validate(self) -> None:
        from models.catalogue import load_catalogue

        known = load_catalogue().ids
        unknown = [m for m in self.models if m not in known]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; the catalogue lists {known}")
        bad = [b for b in self.brokers if b not in BROKERS]
        if bad:
            raise ValueError(f"unknown broker(s) {bad}; choose from {list(BROKERS)}")
        if "mosquitto" in self.brokers and self.mqtt and not mosquitto_path():
            raise ValueError("mosquitto is not installed (apt-get install mosquitto)")
        for name in ("requests", "throughput_requests", "window", "invoke_requests", "rounds"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        if not self.workers or min(self.workers) < 1 or max(self.workers) > 16:
            raise ValueError("--workers must be between 1 and 16")
        if self.warmup < 0 or self.cold_starts < 0 or self.time_limit_s <= 0:
            raise ValueError("--warmup/--cold-starts must be >= 0 and --time-limit > 0")
        if self.load_requests < 0 or self.load_stress < 0:
            raise ValueError("--load-requests and --load-stress must be >= 0")
