"""Static checks of the systemd units and the compose deployment."""

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _unit(name: str) -> dict[str, str]:
    out = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key] = value
    return out


def test_agent_unit_is_hardened() -> None:
    unit = _unit("edgefleet-agent.service")
    assert unit["User"] == "edgefleet"
    assert unit["ProtectSystem"] == "strict"
    assert unit["Restart"] == "on-failure"
    assert unit["NoNewPrivileges"] == "yes"
    assert unit["UMask"] == "0077"
    assert unit["CapabilityBoundingSet"] == ""
    # the agent rewrites its config once enrolled, and stages updates in the releases directory
    assert unit["ReadWritePaths"] == "@CONFDIR@ @PREFIX@/releases"
    # the launcher starts the agent and rolls back a failed update; exit 2 is a config error
    assert unit["ExecStart"] == "@PREFIX@/launch --config @CONFIG@"
    assert unit["RestartPreventExitStatus"] == "2"


def test_hub_and_broker_units() -> None:
    for name in ("edgefleet-hub.service", "edgefleet-broker.service"):
        unit = _unit(name)
        assert unit["User"] == "edgefleet"
        assert unit["ProtectSystem"] == "strict"
        assert unit["Restart"] == "on-failure"


def test_compose_stack() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "mosquitto", "hub", "hub-api", "proxy"} <= set(services)
    assert services["hub"]["environment"]["EDGEFLEET_MQTT_ENABLED"] == "true"
    assert services["hub-api"]["environment"]["EDGEFLEET_MQTT_ENABLED"] == "false"
    assert services["hub-api"]["environment"]["EDGEFLEET_ENVIRONMENT"] == "production"
    conf = (DEPLOY / "compose" / "mosquitto" / "mosquitto.conf").read_text()
    assert "set_tcp_nodelay true" in conf
    assert "allow_anonymous false" in conf
