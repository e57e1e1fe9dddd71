"""The agent's YAML configuration, validated by pydantic; `EDGEFLEET_AGENT_...` env overrides."""

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from broker.contract.topics import DEFAULT_PREFIX, DEVICE_ID_RE, SEGMENT_RE
from edge_agent.errors import ConfigError

ENV_PREFIX = "EDGEFLEET_AGENT_"


def _check_filter(value: str) -> str:
    """An MQTT topic filter: `+` fills a whole level, `#` only the last one."""
    levels = value.split("/")
    for i, level in enumerate(levels):
        bad_hash = "#" in level and (level != "#" or i < len(levels) - 1)
        if ("+" in level and level != "+") or bad_hash:
            raise ValueError(f"invalid MQTT topic filter {value!r}")
    if not value or value.startswith("$"):
        raise ValueError(f"invalid MQTT topic filter {value!r}")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerConfig(_Section):
    """Where the MQTT broker is and how to stay connected to it."""

    host: str = "127.0.0.1"
    """Broker host name or address."""
    port: int = Field(default=1883, ge=1, le=65535)
    """Broker TCP port."""
    username: str | None = None
    """User name; None connects anonymously."""
    password: str | None = None
    """Password for `username` (better given as EDGEFLEET_AGENT_BROKER__PASSWORD)."""
    keepalive: int = Field(default=30, ge=5, le=65535)
    """MQTT keep-alive in seconds; the broker fires the Last Will after 1.5x without traffic."""
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    """MQTT protocol version; 3.1.1 works with amqtt, 5 adds response-topic/correlation-data."""
    client_id: str | None = None
    """MQTT client id; default `edgefleet-agent-{device_id}`."""
    reconnect_min_s: float = Field(default=0.5, gt=0)
    """First reconnect delay; doubles per failed attempt, with jitter."""
    reconnect_max_s: float = Field(default=30.0, gt=0)
    """Longest reconnect delay."""

    @model_validator(mode="after")
    def _backoff_order(self) -> "BrokerConfig":
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) is below reconnect_min_s "
                f"({self.reconnect_min_s})"
            )
        return self


class SensorConfig(_Section):
    """A third-party topic (filter) whose messages go to a model pipeline."""

    topic: str
    """MQTT topic filter, wildcards allowed, e.g. `cameras/+/jpeg`."""
    model: str
    """Model id (one of `models`) that handles these messages."""
    content_type: str | None = None
    """Informational MIME type of the payload, e.g. `image/jpeg`, `audio/wav`."""

    @field_validator("topic")
    @classmethod
    def _topic_filter(cls, value: str) -> str:
        return _check_filter(value)


class AgentConfig(BaseSettings):
    """Everything `edgefleet agent` needs; see docs/agent.md for the reference."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    device_id: str = Field(pattern=DEVICE_ID_RE.pattern)
    """This device's id, `[a-z0-9][a-z0-9_-]{0,63}`; the `{d}` of every topic."""
    topic_prefix: str = DEFAULT_PREFIX
    """Prefix of the contract topics."""
    broker: BrokerConfig = BrokerConfig()
    models: list[str] = Field(min_length=1)
    """Model ids to load at start-up (from the catalogue)."""
    model_dir: Path | None = None
    """Where fetched model files are; default `$EDGEFLEET_MODEL_DIR` or
    `~/.local/share/edgefleet/models` (`edgefleet models fetch` fills it)."""
    sensors: list[SensorConfig] = Field(default_factory=list)
    """Third-party topics routed to models; results go to this device's `result/{m}`."""
    max_payload_bytes: int = Field(default=1 << 20, ge=1)
    """Larger inputs are rejected with `too_large` before decoding."""
    health_interval_s: float = Field(default=5.0, gt=0)
    """Seconds between `health` heartbeats."""
    workers_per_model: int = Field(default=1, ge=1, le=16)
    """Inference threads per model; each has its own pipeline instance."""
    queue_limit: int = Field(default=64, ge=1)
    """Requests waiting per model before new ones are rejected with `overloaded`."""

    @field_validator("models")
    @classmethod
    def _model_ids(cls, value: list[str]) -> list[str]:
        for model in value:
            if not SEGMENT_RE.fullmatch(model):
                raise ValueError(f"invalid model id {model!r}")
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate model ids in {value!r}")
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or any(c in value for c in "+#") or value.startswith("/"):
            raise ValueError(f"invalid topic prefix {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _sensor_models(self) -> "AgentConfig":
        for i, sensor in enumerate(self.sensors):
            if sensor.model not in self.models:
                raise ValueError(
                    f"sensors.{i}.model: {sensor.model!r} is not one of models {self.models!r}"
                )
        return self

    @property
    def client_id(self) -> str:
        return self.broker.client_id or f"edgefleet-agent-{self.device_id}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file is passed as init kwargs; environment variables override it.
        return env_settings, init_settings


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"  {key}: {err['msg']}{shown}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "<config>") -> AgentConfig:
    """Validate already-parsed YAML data; raise ConfigError naming each bad key and value."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return AgentConfig(**data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid agent configuration\n{_describe(exc)}") from None


def load_config(path: Path) -> AgentConfig:
    """Read and validate the YAML file at `path`."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, str(path))
