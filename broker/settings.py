"""Settings of the embedded broker, read from `EDGEFLEET_BROKER_*` variables and CLI options."""

import ipaddress
import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from broker.tls import TlsFiles, check_files
from contract.homeassistant import DEFAULT_HA_PREFIX
from contract.topics import DEFAULT_PREFIX

_TLS_FILE_SETTINGS = ("tls_certfile", "tls_keyfile", "tls_cafile")
MQTT_MAX_PAYLOAD = 268_435_455  # the largest remaining length MQTT can encode
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?")


class BrokerConfigError(ValueError):
    """The broker settings are invalid; the message says which setting and how to fix it."""


class BrokerSettings(BaseSettings):
    """Everything the embedded broker can be told; each field is also `EDGEFLEET_BROKER_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="EDGEFLEET_BROKER_", frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    """Address to listen on. Loopback by default; `0.0.0.0` exposes the broker to the network."""

    port: int = 1883
    """TCP port to listen on, 1-65535; 0 lets the OS pick a free one (tests, benchmarks)."""

    allow_anonymous: bool = False
    """Open broker for development: accept anyone, no access control at all (amqtt then gives
    every session the anonymous treatment: no offline queue). Cannot be combined with
    `credentials_file`, `hub_url` or `demo`, which enforce per-account ACLs."""

    credentials_file: Path | None = None
    """YAML/JSON file of accounts with hashed secrets (broker/credentials.py); enables
    authentication and the topic ACL. Re-read when it changes."""

    hub_url: str | None = None
    """Authenticate against the hub (`POST` to its broker-auth path, contract/http.py) instead
    of a file; enables the topic ACL."""

    hub_service_key: SecretStr | None = None
    """Bearer key the broker presents to the hub; required with `hub_url`."""

    auth_cache_ttl_s: float = 5.0
    """Seconds a hub answer is reused: a revoked device is refused at most this late."""

    demo: bool = False
    """Demo mode (docs/broker.md): clients without a username are accepted but may only use the
    public integration topics (status, infer, result, event, error); with a credentials
    source, accounts work as usual. Bind loopback only."""

    topic_prefix: str = DEFAULT_PREFIX
    """Prefix of the contract topics the ACL protects."""

    ha_discovery_prefix: str | None = DEFAULT_HA_PREFIX
    """Home Assistant discovery prefix: devices may publish their own discovery config under it
    and read `<prefix>/status`, the hub may clear any (docs/home-assistant.md). Empty/None: no
    Home Assistant rights."""

    persistence: bool = True
    """Keep sessions, subscriptions and retained messages in SQLite under `data_dir`, so that a
    broker restart (even SIGKILL) loses no QoS 1 message of an authenticated client."""

    data_dir: Path = Path("var/broker")
    """Directory of the persistence database (`broker.sqlite3`); created when needed."""

    max_payload_bytes: int = 0
    """Largest PUBLISH payload the broker forwards; larger ones are dropped, as with Mosquitto's
    `message_size_limit`. 0 (default): no limit beyond MQTT's 256 MB. Off by default because
    the check costs amqtt ~15-30 % of its message rate and agents enforce their own limit."""

    tls_port: int | None = None
    """Port of a second, TLS listener on `host` (MQTT over TLS, usually 8883); None (default):
    no TLS listener; 0 picks a free port. Needs `tls_certfile` and `tls_keyfile`."""

    tls_certfile: Path | None = None
    """PEM server certificate (chain) of the TLS listener."""

    tls_keyfile: Path | None = None
    """PEM private key of `tls_certfile`, unencrypted (no passphrase option)."""

    tls_cafile: Path | None = None
    """PEM CA certificate(s) that client certificates are verified against; required with
    `tls_require_client_cert`. Without it, clients are not asked for a certificate."""

    tls_require_client_cert: bool = False
    """Refuse TLS clients without a certificate signed by `tls_cafile`; a client certificate's
    CN must then equal the username (the device id) of the CONNECT (docs/broker.md, TLS)."""

    @field_validator("host")
    @classmethod
    def _host_is_an_address(cls, value: str) -> str:
        value = value.strip().strip("[]")
        if not value:
            raise ValueError("must not be empty; use 127.0.0.1 (default) or 0.0.0.0")
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not _HOSTNAME_RE.fullmatch(value):
                raise ValueError(
                    f"{value!r} is neither an IP address nor a host name; "
                    "use e.g. 127.0.0.1, ::1 or 0.0.0.0"
                ) from None
        return value

    @field_validator("port")
    @classmethod
    def _port_in_range(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError(f"must be between 1 and 65535 (or 0 for any free port), got {value}")
        return value

    @field_validator("tls_port")
    @classmethod
    def _tls_port_in_range(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= 65535:
            raise ValueError(f"must be between 1 and 65535 (or 0 for any free port), got {value}")
        return value

    @field_validator("max_payload_bytes")
    @classmethod
    def _payload_in_range(cls, value: int) -> int:
        if not 0 <= value <= MQTT_MAX_PAYLOAD:
            raise ValueError(f"must be between 0 (no limit) and {MQTT_MAX_PAYLOAD}, got {value}")
        return value

    @field_validator("auth_cache_ttl_s")
    @classmethod
    def _ttl_in_range(cls, value: float) -> float:
        if not 0 <= value <= 300:
            raise ValueError(f"must be between 0 and 300 seconds, got {value}")
        return value

    @model_validator(mode="after")
    def _auth_consistent(self) -> "BrokerSettings":
        if self.credentials_file is not None and self.hub_url is not None:
            raise ValueError("give credentials_file or hub_url, not both")
        if self.hub_url is not None and self.hub_service_key is None:
            raise ValueError("hub_url needs hub_service_key (EDGEFLEET_BROKER_HUB_SERVICE_KEY)")
        if self.allow_anonymous and self.access_control:
            raise ValueError(
                "allow_anonymous opens the broker to everyone and cannot be combined with "
                "credentials_file, hub_url or demo; use demo for anonymous public-topic access"
            )
        if self.credentials_file is not None and not self.credentials_file.is_file():
            raise ValueError(f"credentials_file {str(self.credentials_file)!r} is not a file")
        return self

    @model_validator(mode="after")
    def _data_dir_usable(self) -> "BrokerSettings":
        if self.persistence and self.data_dir.exists() and not self.data_dir.is_dir():
            raise ValueError(
                f"data_dir {str(self.data_dir)!r} exists and is not a directory; "
                "point EDGEFLEET_BROKER_DATA_DIR at a directory"
            )
        return self

    @model_validator(mode="after")
    def _tls_usable(self) -> "BrokerSettings":
        files = self.tls_files
        if files is None:
            given = [name for name in _TLS_FILE_SETTINGS if getattr(self, name) is not None]
            if self.tls_require_client_cert:
                given.append("tls_require_client_cert")
            if given:
                raise ValueError(
                    f"{', '.join(given)} given but no tls_port: set tls_port "
                    "(EDGEFLEET_BROKER_TLS_PORT, e.g. 8883) to open the TLS listener"
                )
            return self
        if self.tls_port == self.port and self.port != 0:
            raise ValueError(
                f"tls_port and port are both {self.port}; give the TLS listener its own port"
            )
        check_files(files)  # TlsConfigError is a ValueError: reported like any bad setting
        return self

    @property
    def tls_files(self) -> TlsFiles | None:
        """The TLS listener's files, or None without a TLS listener."""
        if self.tls_port is None:
            return None
        missing = [name for name in ("tls_certfile", "tls_keyfile") if getattr(self, name) is None]
        if missing or self.tls_certfile is None or self.tls_keyfile is None:
            raise ValueError(
                f"tls_port needs {' and '.join(missing)}: the PEM server certificate and its key"
            )
        return TlsFiles(
            self.tls_certfile, self.tls_keyfile, self.tls_cafile, self.tls_require_client_cert
        )

    @property
    def tls_bind(self) -> str | None:
        """`host:tls_port` for amqtt, or None without a TLS listener."""
        if self.tls_port is None:
            return None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.tls_port}"

    @property
    def access_control(self) -> bool:
        """Whether clients are authenticated per account and checked against the topic ACL."""
        return self.credentials_file is not None or self.hub_url is not None or self.demo

    @property
    def database(self) -> Path:
        return self.data_dir / "broker.sqlite3"

    @property
    def bind(self) -> str:
        """`host:port` as amqtt wants it (IPv6 addresses in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def load_settings(**overrides: Any) -> BrokerSettings:
    """Settings from the environment with `overrides` (None values ignored) on top.

    Raises BrokerConfigError naming each bad setting, its environment variable and the fix.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return BrokerSettings(**given)
    except ValidationError as exc:
        raise BrokerConfigError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    lines = ["invalid broker settings:"]
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        env = f" (EDGEFLEET_BROKER_{name.upper()})" if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        value = error.get("input")
        shown = (
            ""
            if "got" in message or repr(value) in message or isinstance(value, dict)
            else f" (got {value!r})"
        )
        lines.append(f"  {name}{env}: {message}{shown}")
    return "\n".join(lines)
