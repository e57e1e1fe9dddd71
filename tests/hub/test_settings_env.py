"""A mistyped `EDGEFLEET_*` variable stops the hub with an actionable message, while the
variables of the other components sharing the prefix are left alone (issue #14)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from cloud_hub.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
EDGEFLEET = str(Path(sys.executable).with_name("edgefleet"))


def test_a_mistyped_setting_is_an_error_naming_the_right_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGEFLEET_DATABSE_URL", "postgresql+psycopg://u:p@db/hub")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "unknown setting EDGEFLEET_DATABSE_URL; did you mean EDGEFLEET_DATABASE_URL?" in str(
        caught.value
    )
    assert "u:p@db" not in str(caught.value)  # values (secrets) are never echoed


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("EDGEFLEET_BROKER_SERVCE_KEY", "EDGEFLEET_BROKER_SERVICE_KEY"),  # the hub's own
        ("EDGEFLEET_MQTT_PASWORD", "EDGEFLEET_MQTT_PASSWORD"),
        ("EDGEFLEET_STATE_DIRS", "EDGEFLEET_STATE_DIR"),  # another component's
        ("EDGEFLEET_BROKER_PROT", "EDGEFLEET_BROKER_PORT"),  # the broker's
        ("edgefleet_heartbeat_intervals", "EDGEFLEET_HEARTBEAT_INTERVAL_S"),  # case-blind
    ],
)
def test_suggestions(monkeypatch: pytest.MonkeyPatch, name: str, meant: str) -> None:
    monkeypatch.setenv(name, "1")
    with pytest.raises(ValidationError, match=f"unknown setting {name}; did you mean {meant}\\?"):
        Settings()


def test_other_components_variables_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "EDGEFLEET_STATE_DIR",  # agents' outbox/models (tests, bench)
        "EDGEFLEET_MODEL_DIR",  # fetched model files (also the hub's cloud inference)
        "EDGEFLEET_HUB_URL",  # `edgefleet fl --hub`
        "EDGEFLEET_ENROLLMENT_TOKEN",  # provision / flash
        "EDGEFLEET_PG_BIN",  # bench and tests
        "EDGEFLEET_AGENT_HEALTH_INTERVAL_S",  # any agent override
        "EDGEFLEET_AGENT_BROKER__PORT",
        "EDGEFLEET_BROKER_PORT",  # the embedded broker's settings
        "EDGEFLEET_BROKER_DATA_DIR",
    ):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("EDGEFLEET_BROKER_SERVICE_KEY", "k" * 32)  # the hub's own broker_*
    assert Settings().broker_service_key is not None


def test_every_variable_named_in_the_repository_is_accepted() -> None:
    """Deploy files, docs, scripts and code name no variable the hub would now refuse."""
    from cloud_hub.core.config import unknown_variables

    names: set[str] = set()
    for folder in (
        "deploy",
        "docs",
        "scripts",
        "edgefleet",
        "edge_agent",
        "broker",
        "models",
        "cloud_hub",
        "dashboard",
        "tests",
        "Makefile",
        "README.md",
    ):
        path = ROOT / folder
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            if file.suffix not in {
                ".py",
                ".md",
                ".yml",
                ".yaml",
                ".sh",
                ".service",
                ".env",
                ".example",
                ".toml",
                ".conf",
                ".Dockerfile",
                "",
            }:
                continue
            if file.name == "test_settings_env.py":  # the typos of this file
                continue
            text = file.read_text(errors="ignore")
            names |= set(re.findall(r"\bEDGEFLEET_[A-Z0-9_]*[A-Z0-9]\b", text))
    names.discard("EDGEFLEET_DATABSE_URL")  # docs/hub.md's example of a refused typo
    assert {
        "EDGEFLEET_DATABASE_URL",
        "EDGEFLEET_STATE_DIR",
        "EDGEFLEET_BROKER_PORT",
        "EDGEFLEET_AGENT_BROKER__PORT",
    } <= names
    assert [e["loc"] for e in unknown_variables(dict.fromkeys(names, "x"))] == []


def test_hub_refuses_to_start_on_a_typo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEFLEET_")}
    env |= {
        "EDGEFLEET_DATA_DIR": str(tmp_path),
        "EDGEFLEET_DATABSE_URL": "sqlite:///x.db",
        "EDGEFLEET_ADMIN_API_KEY": "efk_this-is-a-secret-value-123",
    }
    for args in (["hub", "--validate-config"], ["hub", "--port", "0"]):
        proc = subprocess.run(
            [EDGEFLEET, *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert (
            "unknown setting EDGEFLEET_DATABSE_URL; did you mean EDGEFLEET_DATABASE_URL?"
            in proc.stderr
        )
        assert "Traceback" not in proc.stderr
        assert "this-is-a-secret" not in proc.stderr
