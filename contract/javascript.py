"""The contract facts the dashboard uses, as a generated ES module (`contract.js`).

The dashboard is static JavaScript served by the hub, so it cannot import this package; it
imports `dashboard/static/assets/contract.js` instead, written from here by
`edgefleet contract js`. `--check` (and a test) fail when the committed file drifts.
"""

import json
from pathlib import Path

from contract.health import CPU_HEALTHY_MAX, MEM_HEALTHY_MAX, RTT_HEALTHY_MS, DeviceState
from contract.http import API_PREFIX

DEFAULT_OUT = Path("dashboard/static/assets/contract.js")

_VALUES: dict[str, object] = {
    "API_PREFIX": API_PREFIX,
    "DEVICE_STATES": [str(state) for state in DeviceState],
    "HEALTH_BANDS": {"cpu": CPU_HEALTHY_MAX, "mem": MEM_HEALTHY_MAX, "rtt_ms": RTT_HEALTHY_MS},
}


def generate() -> str:
    """The module text: one `export const` per fact."""
    lines = [
        "// Generated from the Python contract package by `edgefleet contract js`; do not edit.",
        *(f"export const {name} = {json.dumps(value)};" for name, value in _VALUES.items()),
    ]
    return "\n".join(lines) + "\n"


def is_up_to_date(out: Path) -> bool:
    return out.exists() and out.read_text(encoding="utf-8") == generate()
