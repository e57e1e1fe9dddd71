"""The agent's twin: apply, reject, ignore stale, detect and report concurrent edits."""

from pathlib import Path
from typing import Any

import pytest

from contract import TwinDesired, encode
from edge_agent.twin import DeviceTwin, Knob, positive_float, three_way, unit_float

D = "cam-1"


class Box:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {"health_interval_s": 5.0, "pipelines.m.min_score": 0.5}

    def knobs(self) -> dict[str, Knob]:
        def knob(key: str, parse: Any) -> Knob:
            return Knob(parse, lambda v: self.values.__setitem__(key, v), lambda: self.values[key])

        return {
            "health_interval_s": knob("health_interval_s", positive_float),
            "pipelines.m.min_score": knob("pipelines.m.min_score", unit_float),
        }


def desired(version: dict[str, int], state: dict[str, Any]) -> bytes:
    return encode(TwinDesired(version=version, state=state))


def test_dominating_desired_is_applied_and_bad_keys_rejected() -> None:
    box = Box()
    twin = DeviceTwin(D, box.knobs())
    report = twin.on_desired(
        desired(
            {"hub": 1}, {"health_interval_s": 7, "pipelines": {"m": {"min_score": 2}}, "nope": 1}
        )
    )
    assert report is not None
    assert box.values == {"health_interval_s": 7.0, "pipelines.m.min_score": 0.5}
    assert report.version == {"hub": 1}
    assert set(report.rejected) == {"pipelines.m.min_score", "nope"}
    assert "unknown key" in report.rejected["nope"]
    assert report.state["health_interval_s"] == 7.0


@pytest.mark.parametrize("payload", [b"{", b'{"state": 1}', b""])
def test_malformed_or_cleared_desired_is_ignored(payload: bytes) -> None:
    assert DeviceTwin(D, Box().knobs()).on_desired(payload) is None


def test_stale_desired_is_ignored() -> None:
    box = Box()
    twin = DeviceTwin(D, box.knobs())
    twin.on_desired(desired({"hub": 2}, {"health_interval_s": 9}))
    report = twin.on_desired(desired({"hub": 1}, {"health_interval_s": 1}))
    assert report is not None
    assert report.version == {"hub": 2}
    assert box.values["health_interval_s"] == 9.0


def test_concurrent_edits_are_detected_and_reported() -> None:
    box = Box()
    twin = DeviceTwin(D, box.knobs())
    twin.on_desired(desired({"hub": 1}, {"health_interval_s": 7, "pipelines.m.min_score": 0.5}))
    # offline: the device changes two keys, the hub one of them (and it did not see ours)
    twin.set_local("health_interval_s", 3)
    twin.set_local("pipelines.m.min_score", 0.8)
    assert twin.version == {"hub": 1, D: 2}
    report = twin.on_desired(
        desired({"hub": 2}, {"health_interval_s": 11, "pipelines.m.min_score": 0.5})
    )
    assert report is not None
    assert [(c.key, c.desired, c.local, c.kept) for c in report.conflicts] == [
        ("health_interval_s", 11, 3.0, "desired")
    ]
    assert box.values == {"health_interval_s": 11.0, "pipelines.m.min_score": 0.8}  # ours kept
    assert report.version == {"hub": 2, D: 2}


@pytest.mark.parametrize(
    ("base", "local", "wanted", "mine", "apply", "conflicts"),
    [
        ({"a": 1}, {"a": 1}, {"a": 2}, [], {"a": 2}, []),
        ({"a": 1}, {"a": 5}, {"a": 1}, ["a"], {}, []),  # only we changed it: ours stays
        ({"a": 1}, {"a": 5}, {"a": 2}, ["a"], {"a": 2}, ["a"]),  # both: conflict, hub wins
        ({"a": 1}, {"a": 2}, {"a": 2}, ["a"], {}, []),  # both, same value: no conflict
        ({}, {"a": 5}, {"a": 2}, ["a"], {"a": 2}, ["a"]),  # hub added a key we edited
    ],
)
def test_three_way(
    base: dict[str, Any],
    local: dict[str, Any],
    wanted: dict[str, Any],
    mine: list[str],
    apply: dict[str, Any],
    conflicts: list[str],
) -> None:
    got, found = three_way(base, local, wanted, mine)
    assert got == apply
    assert [c.key for c in found] == conflicts


def test_state_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "twin.json"
    twin = DeviceTwin(D, Box().knobs(), path)
    twin.on_desired(desired({"hub": 1}, {"health_interval_s": 7}))
    twin.set_local("pipelines.m.min_score", 0.9)
    box = Box()
    again = DeviceTwin(D, box.knobs(), path)
    assert again.version == {"hub": 1, D: 1}
    assert box.values == {"health_interval_s": 7.0, "pipelines.m.min_score": 0.9}
