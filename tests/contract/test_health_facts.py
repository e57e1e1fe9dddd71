"""Device states and healthy bands: defined in contract/health.py, used by hub, agent and
dashboard (through the generated contract.js)."""

import subprocess
import sys
from pathlib import Path

import pytest

from cloud_hub.core.config import Settings
from cloud_hub.health import state as hub_health
from contract import javascript
from contract.health import (
    CPU_HEALTHY_MAX,
    LIVE_STATES,
    MEM_HEALTHY_MAX,
    DeviceState,
)
from edge_agent.offload import Thresholds

ASSETS = Path(__file__).resolve().parents[2] / "dashboard" / "static" / "assets"


def test_the_four_states_in_dashboard_order() -> None:
    assert [str(s) for s in DeviceState] == ["online", "degraded", "offline", "lost"]
    assert set(LIVE_STATES) == {DeviceState.ONLINE, DeviceState.DEGRADED}


def test_the_hub_state_machine_speaks_the_contract_states() -> None:
    rt = hub_health.Runtime()
    healthy = {"cpu": CPU_HEALTHY_MAX, "mem": MEM_HEALTHY_MAX}
    tr = hub_health.on_health(rt, healthy, 0.0, hub_health.Thresholds())
    assert tr.state is DeviceState.ONLINE
    hot = {"cpu": CPU_HEALTHY_MAX + 0.01, "mem": MEM_HEALTHY_MAX}
    assert hub_health.on_health(rt, hot, 1.0, hub_health.Thresholds()).state is DeviceState.DEGRADED


@pytest.mark.parametrize(
    ("hub", "agent"),
    [
        (Settings.model_fields["cpu_degraded"].default, Thresholds().cpu_healthy),
        (Settings.model_fields["mem_degraded"].default, Thresholds().mem_healthy),
        (hub_health.Thresholds().cpu, Thresholds().cpu_healthy),
        (hub_health.Thresholds().mem, Thresholds().mem_healthy),
    ],
)
def test_hub_and_agent_judge_by_the_same_bands(hub: float, agent: float) -> None:
    assert hub == agent


def test_the_committed_dashboard_module_is_generated() -> None:
    assert javascript.is_up_to_date(ASSETS / "contract.js"), "run `edgefleet contract js`"


def test_the_dashboard_module_holds_the_contract_values() -> None:
    text = javascript.generate()
    assert 'export const API_PREFIX = "/api/v1";' in text
    assert 'export const DEVICE_STATES = ["online", "degraded", "offline", "lost"];' in text
    assert '"cpu": 0.7, "mem": 0.65, "rtt_ms": 50.0' in text


def test_the_dashboard_imports_instead_of_spelling_them() -> None:
    for name in ("api.js", "app.js", "device.js", "fleet.js", "registry.js", "ui.js"):
        text = (ASSETS / name).read_text(encoding="utf-8")
        assert "from './contract.js'" in text, name
        assert "'/api/v1" not in text, name
    assert "band: 0.7" not in (ASSETS / "device.js").read_text(encoding="utf-8")


def test_cli_check_fails_on_a_stale_module(tmp_path: Path) -> None:
    edgefleet = str(Path(sys.executable).with_name("edgefleet"))
    out = tmp_path / "contract.js"
    out.write_text("// stale\n", encoding="utf-8")
    check = [edgefleet, "contract", "js", "--out", str(out), "--check"]
    assert subprocess.run(check, capture_output=True, timeout=60).returncode == 1
    subprocess.run([*check[:-1]], check=True, capture_output=True, timeout=60)
    assert subprocess.run(check, capture_output=True, timeout=60).returncode == 0
