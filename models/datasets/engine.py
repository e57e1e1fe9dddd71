"""Synthetic engine sensor records (docs/federated.md) with learnable faults and non-IID splits.

Records every 5 minutes from 2024-12-24 10:00. Fault severity (0 normal .. 3 severe) raises
temperature and vibration and lowers fuel efficiency, on top of operating-mode baselines and
noise, so a small model can learn it. Each engine gets its own mix of operating modes and
faults (`engine_profile`), which is what makes federated data non-IID.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

START = datetime(2024, 12, 24, 10, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=5)
RECORDS_PER_ENGINE = 1000
MODES = ("idle", "cruise", "heavy_load")
FAULTS = ("normal", "minor", "moderate", "severe")
NUMERIC = (
    "temperature_c",
    "rpm",
    "fuel_efficiency_km_l",
    "vibration_x",
    "vibration_y",
    "vibration_z",
    "torque_nm",
    "power_kw",
)
RANGES: dict[str, tuple[float, float]] = {
    "temperature_c": (60.0, 120.0),
    "rpm": (1000.0, 4000.0),
    "fuel_efficiency_km_l": (15.0, 30.0),
    "vibration_x": (0.0, 1.0),
    "vibration_y": (0.0, 1.0),
    "vibration_z": (0.0, 1.0),
    "torque_nm": (50.0, 200.0),
    "power_kw": (20.0, 100.0),
}
N_FEATURES = len(NUMERIC) + len(MODES)
N_CLASSES = len(FAULTS)

# per mode: (rpm, torque, power, temperature, fuel efficiency) baselines
_BASE = {
    "idle": (1400.0, 75.0, 30.0, 72.0, 27.0),
    "cruise": (2300.0, 115.0, 55.0, 80.0, 24.5),
    "heavy_load": (3400.0, 170.0, 85.0, 88.0, 20.0),
}


@dataclass(frozen=True, slots=True)
class EngineProfile:
    """How one engine behaves: its share of each operating mode and of each fault level."""

    engine_id: str
    mode_mix: tuple[float, float, float]
    fault_mix: tuple[float, float, float, float]
    seed: int


@dataclass(frozen=True, slots=True)
class EngineData:
    """Records of one engine as columns: features `x` (n, 11) and labels `y` (n,)."""

    engine_id: str
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def engine_profile(index: int, *, seed: int = 0, alpha: float = 0.4) -> EngineProfile:
    """A non-IID profile: Dirichlet mixes over modes and faults (small alpha: more skew)."""
    rng = np.random.default_rng([seed, index, 17])
    modes = rng.dirichlet([alpha] * len(MODES))
    faults = rng.dirichlet([alpha] * len(FAULTS))
    faults = 0.3 * np.eye(4)[0] + 0.7 * faults  # every engine runs normally part of the time
    return EngineProfile(
        engine_id=f"engine-{index:03d}",
        mode_mix=tuple(float(v) for v in modes),  # type: ignore[arg-type]
        fault_mix=tuple(float(v) for v in faults / faults.sum()),  # type: ignore[arg-type]
        seed=int(rng.integers(1 << 31)),
    )


def iid_profile(index: int, *, seed: int = 0) -> EngineProfile:
    """Same mixes everywhere: the pooled-looking engine used for test sets."""
    rng = np.random.default_rng([seed, index, 29])
    mixes = (1 / 3, 1 / 3, 1 / 3), (0.4, 0.2, 0.2, 0.2)
    return EngineProfile(f"engine-{index:03d}", *mixes, int(rng.integers(1 << 31)))


def _sticky(rng: np.random.Generator, mix: Sequence[float], n: int, stay: float) -> np.ndarray:
    """A Markov chain that keeps its state with probability `stay`, else redraws from `mix`."""
    out = np.empty(n, dtype=np.int64)
    draws = rng.choice(len(mix), size=n, p=np.asarray(mix))
    keep = rng.random(n) < stay
    out[0] = draws[0]
    for i in range(1, n):
        out[i] = out[i - 1] if keep[i] else draws[i]
    return out


def generate_records(profile: EngineProfile, n: int = RECORDS_PER_ENGINE) -> list[dict[str, Any]]:
    """Records of one engine (JSON-ready: ISO timestamps, plain floats)."""
    rng = np.random.default_rng(profile.seed)
    modes = _sticky(rng, profile.mode_mix, n, 0.9)
    faults = _sticky(rng, profile.fault_mix, n, 0.8)
    records = []
    for i in range(n):
        mode, fault = MODES[modes[i]], int(faults[i])
        rpm, torque, power, temp, eff = _BASE[mode]
        vib = 0.12 + 0.19 * fault + rng.normal(0, 0.07, 3)
        values = {
            "temperature_c": temp + 8.0 * fault + rng.normal(0, 3.5),
            "rpm": rpm + rng.normal(0, 250),
            "fuel_efficiency_km_l": eff - 1.8 * fault + rng.normal(0, 1.2),
            "vibration_x": vib[0],
            "vibration_y": vib[1],
            "vibration_z": vib[2],
            "torque_nm": torque + rng.normal(0, 12),
            "power_kw": power + rng.normal(0, 6),
        }
        record: dict[str, Any] = {"timestamp": (START + i * INTERVAL).isoformat()}
        for key, value in values.items():
            lo, hi = RANGES[key]
            record[key] = round(float(np.clip(value, lo, hi)), 4)
        record["fault_status"] = fault
        record["operating_mode"] = mode
        records.append(record)
    return records


def to_features(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(n, 11) float32: the 8 readings scaled to 0..1 by their ranges, then mode one-hot."""
    x = np.zeros((len(records), N_FEATURES), dtype=np.float32)
    for i, record in enumerate(records):
        for j, key in enumerate(NUMERIC):
            lo, hi = RANGES[key]
            x[i, j] = (float(record[key]) - lo) / (hi - lo)
        x[i, len(NUMERIC) + MODES.index(str(record["operating_mode"]))] = 1.0
    return x


FAR = 100.0  # range widths: a reading further out is a broken sensor, not an engine state


def _check_number(key: str, value: object) -> None:
    """A number within FAR range widths of its range, else ValueError: far out, it would
    overflow the float32 features to inf and the model would answer NaN probabilities."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    lo, hi = RANGES[key]
    slack = FAR * (hi - lo)
    if not lo - slack <= value <= hi + slack:  # NaN and inf fail too; big ints compare exactly
        raise ValueError(f"{key} must be a finite number in {lo - slack:g}..{hi + slack:g}")


def parse_reading(payload: bytes) -> dict[str, Any]:
    """One reading (JSON object) or a batch (JSON list); raises ValueError with the reason."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # deep nesting
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object with the engine readings")
    missing = [k for k in (*NUMERIC, "operating_mode") if k not in data]
    if missing:
        raise ValueError(f"missing fields: {', '.join(missing)}")
    for key in NUMERIC:
        _check_number(key, data[key])
    if data["operating_mode"] not in MODES:
        raise ValueError(f"operating_mode must be one of {', '.join(MODES)}")
    return data


def engine_data(profile: EngineProfile, n: int = RECORDS_PER_ENGINE) -> EngineData:
    records = generate_records(profile, n)
    y = np.array([r["fault_status"] for r in records], dtype=np.int64)
    return EngineData(profile.engine_id, to_features(records), y)


def fleet(n_engines: int, *, seed: int = 0, n: int = RECORDS_PER_ENGINE) -> list[EngineData]:
    """Non-IID data of `n_engines` engines."""
    return [engine_data(engine_profile(i, seed=seed), n) for i in range(n_engines)]


def held_out(n: int = 4000, *, seed: int = 1) -> EngineData:
    """A balanced held-out set (all modes, all faults) for accuracy figures."""
    parts = [engine_data(iid_profile(i, seed=seed + 1000), n // 4) for i in range(4)]
    return EngineData(
        "test", np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts])
    )
