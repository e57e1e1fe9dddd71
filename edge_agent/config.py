"""The agent's YAML configuration, validated by pydantic; `EDGEFLEET_AGENT_...` env overrides."""

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from contract.homeassistant import DEFAULT_HA_PREFIX
from contract.ids import DeviceId
from contract.topics import DEFAULT_PREFIX, SEGMENT_RE
from edge_agent.errors import ConfigError
from edge_agent.offload_config import OffloadConfig
from edge_agent.ops_config import CommandsConfig, ModelSyncConfig, UpdatesConfig
from edge_agent.peer_config import PeersConfig
from edge_agent.sources.config import CameraConfig, MicrophoneConfig
from edge_agent.voice_config import VoiceCommandsConfig
from models.cpus import usable_cpus

ENV_PREFIX = "EDGEFLEET_AGENT_"
MAX_WORKERS = 16  # inference threads per model


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


class BrokerTlsConfig(_Section):
    """MQTT over TLS (docs/agent.md): the CA to trust and this device's client certificate."""

    ca_file: Path | None = None
    """PEM CA certificate(s) the broker's certificate must chain to; None: the system CAs."""
    cert_file: Path | None = None
    """PEM client certificate of this device (its CN is the device id); needs `key_file`."""
    key_file: Path | None = None
    """PEM private key of `cert_file`, unencrypted."""
    insecure: bool = False
    """Skip the check that the broker's certificate names `broker.host` (the chain is still
    verified against `ca_file`); for test set-ups only."""

    @model_validator(mode="after")
    def _files(self) -> "BrokerTlsConfig":
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: give both or neither")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {str(path)!r} is not a file")
        return self


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
    """MQTT client id; default: the device id, which a broker with per-device ACLs requires."""
    reconnect_min_s: float = Field(default=0.5, gt=0)
    """First reconnect delay; doubles per failed attempt, with jitter."""
    reconnect_max_s: float = Field(default=30.0, gt=0)
    """Longest reconnect delay."""
    tls: BrokerTlsConfig | None = None
    """Connect over TLS (`port` is then the broker's TLS port, usually 8883); None: plain TCP."""

    @model_validator(mode="after")
    def _backoff_order(self) -> "BrokerConfig":
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) is below reconnect_min_s "
                f"({self.reconnect_min_s})"
            )
        return self


class HubConfig(_Section):
    """The cloud hub this device is enrolled at (written by `edgefleet provision`).

    The device's credentials are `broker.username` (= `device_id`) and `broker.password` (the
    device secret the hub returned at enrollment): the same pair logs in to the broker and, as
    HTTP Basic, to the hub API (`AgentConfig.hub_auth`).
    """

    url: str | None = None
    """Base URL of the hub, e.g. `https://hub.example.com` (without the API prefix of
    contract/http.py); None: no hub."""
    enrollment_token: str | None = None
    """One-time enrollment token (`eft_...`). When set and `broker.password` is not,
    `edgefleet agent` enrolls at `url` on start, writes the credentials into this file and
    removes the token from it."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"hub url must start with http:// or https:// (got {value!r})")
        return None if value is None else value.rstrip("/")


class OutboxConfig(_Section):
    """The durable outbox for results, events and health (docs/offload.md)."""

    path: Path | None = None
    """SQLite file; default `$EDGEFLEET_STATE_DIR` or `~/.local/state/edgefleet`,
    `outbox-{device_id}.sqlite`."""
    memory: bool = False
    """Keep the outbox in memory only (lost on restart)."""
    max_messages: int = Field(default=100_000, ge=1)
    """Bound of the outbox; beyond it `full_policy` applies and `outbox.dropped` counts."""
    full_policy: Literal["drop_oldest", "reject_new"] = "drop_oldest"
    """Which message to lose when the outbox is full."""
    ack: Literal["auto", "hub", "puback"] = "auto"
    """Delete on the hub's `{d}/ack` (end to end) or on the broker's PUBACK; auto: hub when
    `hub.url` is set."""
    ack_timeout_s: float = Field(default=10.0, gt=0)
    """Unacknowledged this long: send everything unacknowledged again, oldest first. The
    shortest resend timeout: it follows the measured ack round trip above this."""
    ack_timeout_max_s: float = Field(default=60.0, gt=0)
    """Each resend without an ack in between doubles the timeout, up to this (a hub that is
    away, or slower than the devices send, is asked less often; docs/offload.md)."""
    window: int = Field(default=256, ge=1)
    """Most messages sent and not yet acknowledged."""

    @model_validator(mode="after")
    def _timeouts_ordered(self) -> "OutboxConfig":
        if self.ack_timeout_max_s < self.ack_timeout_s:
            raise ValueError(
                f"ack_timeout_max_s ({self.ack_timeout_max_s:g}) must be at least "
                f"ack_timeout_s ({self.ack_timeout_s:g})"
            )
        return self


class FederatedConfig(_Section):
    """This device as a federated client, and as a simulated engine (docs/federated.md)."""

    enabled: bool = False
    """Take part in `cmd/fl-train` rounds (needs `hub.url` and device credentials)."""
    training_data: Literal["escalated", "partition"] = "escalated"
    """What a round trains on: `escalated`, the readings this device's cascade asked the hub
    about, labelled by the hub's answer (distillation); `partition`, the simulated engine's
    generated records with their true labels (benchmarks and the simulated fleet)."""
    lessons_max: int = Field(default=2000, ge=1)
    """Hub-labelled readings kept for training (newest; in memory, ~50 bytes each)."""
    engine_index: int = Field(default=0, ge=0)
    """Which engine of the non-IID fleet this device is: its own data partition."""
    seed: int = 0
    """Seed of the fleet's data generator."""
    records: int = Field(default=1000, ge=10)
    """Records in the local partition."""
    reading_interval_s: float | None = Field(default=None, gt=0)
    """Publish one reading of the partition as telemetry (its own `infer/engine-fault`)
    this often; None: no telemetry."""


class HomeAssistantConfig(_Section):
    """Home Assistant MQTT discovery of this device's detections and health
    (docs/home-assistant.md)."""

    enabled: bool = False
    """Publish a retained device-based discovery config on connect and on HA's `online` birth
    (opt-in: the broker account also needs the Home Assistant rights, broker/acl.py)."""
    discovery_prefix: str = DEFAULT_HA_PREFIX
    """Home Assistant's discovery prefix (its `discovery_prefix` setting)."""
    name: str | None = None
    """Device name shown in Home Assistant; default `edgefleet <device_id>`."""

    @field_validator("discovery_prefix")
    @classmethod
    def _ha_prefix(cls, value: str) -> str:
        if not value or any(c in value for c in "+#") or value.startswith(("/", "$")):
            raise ValueError(f"invalid discovery prefix {value!r}")
        return value.rstrip("/")


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

    device_id: DeviceId
    """This device's id (`contract.ids.ID_PATTERN`); the `{d}` of every topic."""
    topic_prefix: str = DEFAULT_PREFIX
    """Prefix of the contract topics."""
    broker: BrokerConfig = BrokerConfig()
    hub: HubConfig = HubConfig()
    """The hub (URL, enrollment token); see HubConfig."""
    offload: OffloadConfig = OffloadConfig()
    """Offload policy per pipeline and the cloud client; see OffloadConfig."""
    outbox: OutboxConfig = OutboxConfig()
    """Durable outbox; see OutboxConfig."""
    model_sync: ModelSyncConfig = ModelSyncConfig()
    """Signed over-the-air model updates; see ModelSyncConfig."""
    federated: FederatedConfig = FederatedConfig()
    """Engine data partition and federated training; see FederatedConfig."""
    home_assistant: HomeAssistantConfig = HomeAssistantConfig()
    """Home Assistant MQTT discovery; see HomeAssistantConfig."""
    commands: CommandsConfig = CommandsConfig()
    """What fleet commands may do (`reboot`); see CommandsConfig."""
    updates: UpdatesConfig = UpdatesConfig()
    """Over-the-air agent updates; see UpdatesConfig."""
    peers: PeersConfig = PeersConfig()
    """Site gateways: serving peers, offloading to them; see PeersConfig."""
    voice_commands: VoiceCommandsConfig = VoiceCommandsConfig()
    """The command spoken after a wake word, to the hub; see VoiceCommandsConfig."""
    models: list[str] = Field(min_length=1)
    """Model ids to load at start-up (from the catalogue)."""
    model_dir: Path | None = None
    """Where fetched model files are; default `$EDGEFLEET_MODEL_DIR` or
    `~/.local/share/edgefleet/models` (`edgefleet models fetch` fills it)."""
    sensors: list[SensorConfig] = Field(default_factory=list)
    """Third-party topics routed to models; results go to this device's `result/{m}`."""
    cameras: list[CameraConfig] = Field(default_factory=list)
    """Cameras the agent reads itself; results go to this device's `result/{m}`."""
    microphones: list[MicrophoneConfig] = Field(default_factory=list)
    """Microphones the agent listens to itself; results go to this device's `result/{m}`."""
    max_payload_bytes: int = Field(default=1 << 20, ge=1)
    """Larger inputs are rejected with `too_large` before decoding."""
    health_interval_s: float = Field(default=5.0, gt=0)
    """Seconds between `health` heartbeats."""
    workers_per_model: Annotated[int, Field(ge=1, le=MAX_WORKERS)] | Literal["auto"] = 1
    """Inference threads per model, each with its own pipeline instance; `auto`: one per CPU
    the agent may run on (`inference_workers`). The default is 1: every further instance of
    the light vision and voice models costs ~7 MB of RSS (docs/agent.md)."""
    queue_limit: int = Field(default=64, ge=1)
    """Requests waiting per model before new ones are rejected with `overloaded`."""

    @property
    def inference_workers(self) -> int:
        """`workers_per_model` as a number. `auto` is the CPUs this process may run on (its
        affinity, which a container's cpuset or `taskset` narrows; at most MAX_WORKERS): each
        worker's model runs on one thread, so the workers of a busy model use every core and
        no more (docs/agent.md "Inside")."""
        if self.workers_per_model != "auto":
            return self.workers_per_model
        return min(usable_cpus(), MAX_WORKERS)

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
        fed = [("sensors", i, s.model) for i, s in enumerate(self.sensors)]
        fed += [("cameras", i, c.model) for i, c in enumerate(self.cameras)]
        fed += [("microphones", i, m.model) for i, m in enumerate(self.microphones)]
        for where, i, model in fed:
            if model not in self.models:
                raise ValueError(
                    f"{where}.{i}.model: {model!r} is not one of models {self.models!r}"
                )
        names = [c.name for c in self.cameras] + [m.name for m in self.microphones]
        if len(set(names)) != len(names):
            raise ValueError(f"cameras and microphones: names must differ, got {names!r}")
        return self

    @property
    def hub_auth(self) -> tuple[str, str] | None:
        """(device id, device secret) for HTTP Basic on the hub API; None before enrollment."""
        if self.broker.password is None:
            return None
        return (self.broker.username or self.device_id, self.broker.password)

    @model_validator(mode="after")
    def _offload_models(self) -> "AgentConfig":
        for model in self.offload.pipelines:
            if model not in self.models:
                raise ValueError(f"offload.pipelines.{model}: not one of models {self.models!r}")
        if self.peers.serve and self.broker.protocol != "5":
            raise ValueError('peers.serve: gateways answer on MQTT 5 response topics; set '
                             'broker.protocol: "5" (Mosquitto)')  # fmt: skip
        return self

    @property
    def client_id(self) -> str:
        return self.broker.client_id or self.device_id

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


def check_models(config: AgentConfig, source: str = "<config>") -> None:
    """Raise ConfigError unless every id in `models` is in the model catalogue, naming each
    unknown one and the known ones. Not part of AgentConfig's own validation: tests and
    embedders build agents around pipelines of their own (`Agent._load_pipelines`)."""
    import difflib

    from models.catalogue import FACE_DETECTION, WAKEWORD, load_catalogue
    from models.errors import ModelError

    try:
        catalogue = load_catalogue(model_dir=config.model_dir)
    except ModelError as exc:
        raise ConfigError(f"{source}: cannot check the models: {exc}") from None
    lines = []
    for i, model in enumerate(config.models):
        if model not in catalogue:
            close = difflib.get_close_matches(model, catalogue.ids, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            lines.append(f"  models.{i}: unknown model {model!r}{hint}")
    sources = [("cameras", i, c.model, FACE_DETECTION) for i, c in enumerate(config.cameras)]
    sources += [("microphones", i, m.model, WAKEWORD) for i, m in enumerate(config.microphones)]
    for where, i, model, wanted in sources:
        task = catalogue.get(model).task if model in catalogue else wanted
        if task != wanted:
            need = f"it needs a {wanted} model"
            lines.append(f"  {where}.{i}.model: {model!r} is a {task} model; {need}")
    if lines:
        known = ", ".join(catalogue.ids)
        raise ConfigError(
            f"{source}: invalid agent configuration\n"
            + "\n".join(lines)
            + f"\n  the model catalogue lists: {known}"
        )
