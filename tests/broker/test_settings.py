"""`BrokerSettings`: defaults a script can rely on, environment variables, readable errors."""

from pathlib import Path

import pytest

from broker.settings import BrokerConfigError, BrokerSettings, load_settings


def test_defaults_are_loopback_1883_no_anonymous_and_persistent() -> None:
    settings = BrokerSettings()
    assert (settings.host, settings.port, settings.allow_anonymous) == ("127.0.0.1", 1883, False)
    assert (settings.persistence, settings.max_payload_bytes) == (True, 0)
    assert (settings.demo, settings.access_control) == (False, False)


def test_environment_with_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDGEFLEET_BROKER_PORT", "2883")
    monkeypatch.setenv("EDGEFLEET_BROKER_ALLOW_ANONYMOUS", "true")
    monkeypatch.setenv("EDGEFLEET_BROKER_PERSISTENCE", "1")
    monkeypatch.setenv("EDGEFLEET_BROKER_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert (settings.port, settings.allow_anonymous, settings.persistence) == (2883, True, True)
    assert settings.database == tmp_path / "broker.sqlite3"


def test_explicit_values_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEFLEET_BROKER_PORT", "2883")
    assert load_settings(port=3883, host=None).port == 3883


@pytest.mark.parametrize(
    ("host", "bind"),
    [("127.0.0.1", "127.0.0.1:1883"), ("0.0.0.0", "0.0.0.0:1883"), ("::1", "[::1]:1883"),
     ("[::1]", "[::1]:1883"), ("localhost", "localhost:1883")],
)  # fmt: skip
def test_bind_address(host: str, bind: str) -> None:
    assert BrokerSettings(host=host).bind == bind


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"port": 70000}, "port (EDGEFLEET_BROKER_PORT): must be between 1 and 65535"),
        ({"port": -1}, "got -1"),
        ({"port": "abc"}, "port (EDGEFLEET_BROKER_PORT): Input should be a valid integer"),
        ({"host": ""}, "host (EDGEFLEET_BROKER_HOST): must not be empty"),
        ({"host": "not a host"}, "neither an IP address nor a host name"),
        ({"max_payload_bytes": -5}, "max_payload_bytes (EDGEFLEET_BROKER_MAX_PAYLOAD_BYTES)"),
        ({"max_payload_bytes": 2**29}, "and 268435455"),
        ({"allow_anonymous": "perhaps"}, "allow_anonymous (EDGEFLEET_BROKER_ALLOW_ANONYMOUS)"),
    ],
)
def test_invalid_values_are_named_with_their_variable(
    overrides: dict[str, object], expected: str
) -> None:
    with pytest.raises(BrokerConfigError, match="invalid broker settings") as caught:
        load_settings(**overrides)
    assert expected in str(caught.value)


def test_data_dir_must_be_a_directory_when_persistence_is_on(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(BrokerConfigError, match="is not a directory"):
        load_settings(persistence=True, data_dir=not_a_dir)
    assert load_settings(persistence=False, data_dir=not_a_dir).data_dir == not_a_dir


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(BrokerConfigError, match="prot"):
        load_settings(prot=1883)
