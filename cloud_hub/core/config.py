"""The hub's one settings object, read from `EDGEFLEET_*` environment variables and validated."""

import difflib
import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from broker.credentials import FileEntry
from cloud_hub.schemas.federated import AutoRound
from contract import DEFAULT_PREFIX
from contract.health import CPU_HEALTHY_MAX, MEM_HEALTHY_MAX
from contract.homeassistant import DEFAULT_HA_PREFIX

_WEAK_SECRETS = {"", "changethis", "admin", "secret", "password"}


ENV_PREFIX = "EDGEFLEET_"
OTHER_COMPONENTS_VARIABLES = frozenset(
    {
        "EDGEFLEET_STATE_DIR",  # agents: outbox, hard samples, model updates (tests, bench)
        "EDGEFLEET_MODEL_DIR",  # fetched model files (agents, `edgefleet models`)
        "EDGEFLEET_HUB_URL",  # `edgefleet fl --hub`
        "EDGEFLEET_ENROLLMENT_TOKEN",  # `edgefleet provision` / `edgefleet flash --token`
        "EDGEFLEET_PG_BIN",  # PostgreSQL binaries of the benchmark and the tests
        "EDGEFLEET_RELEASES",  # the device launcher's releases directory (edge_agent/launcher.py)
        "EDGEFLEET_TRIAL_STARTS",  # the launcher's starts of a new release on trial
    }
)
"""`EDGEFLEET_*` variables read by other components, which the hub leaves alone (docs/hub.md).
Besides these: `EDGEFLEET_AGENT_*` (agent overrides) and `EDGEFLEET_BROKER_<setting>` (the
embedded broker's settings, `broker.settings.BrokerSettings`)."""
OTHER_COMPONENTS_PREFIXES = ("EDGEFLEET_AGENT_",)


def _broker_variables() -> set[str]:
    from broker.settings import BrokerSettings

    return {f"{ENV_PREFIX}BROKER_{name.upper()}" for name in BrokerSettings.model_fields}


def unknown_variables(environ: Mapping[str, str]) -> list[InitErrorDetails]:
    """One error per `EDGEFLEET_*` variable that neither the hub nor another component reads,
    naming the closest known variable (the value is never shown: it may be a secret)."""
    hub = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    names = [n for n in environ if n.upper().startswith(ENV_PREFIX)]
    if not names:
        return []
    known = hub | OTHER_COMPONENTS_VARIABLES | _broker_variables()
    errors: list[InitErrorDetails] = []
    for name in sorted(names):
        upper = name.upper()
        if upper in known or upper.startswith(OTHER_COMPONENTS_PREFIXES):
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        hint = (
            f"did you mean {close[0]}?"
            if close
            else "not a hub setting (docs/hub-reference.md lists them)"
        )
        errors.append(
            InitErrorDetails(
                type=PydanticCustomError(
                    "unknown_setting",
                    "unknown setting {name}; {hint}",
                    {"name": name, "hint": hint},
                ),
                loc=(name,),
                input=None,
            )
        )
    return errors


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every knob of the hub; defaults suit one machine, production refuses weak secrets."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    def __init__(self, **values: Any) -> None:
        # `extra="ignore"` only concerns keyword arguments: the environment is checked here,
        # before the fields, so a mistyped variable is named rather than its default used.
        if errors := unknown_variables(os.environ):
            raise ValidationError.from_exception_data(type(self).__name__, errors, hide_input=True)
        super().__init__(**values)

    environment: Environment = Environment.DEVELOPMENT
    """`production` refuses missing or default secrets and a plain-text MQTT password."""
    data_dir: Path = Path("var/hub")
    """The hub's own files: the default SQLite database (`hub.db`), the generated admin key, the
    registry signing key and `artifacts/` unless their own settings say otherwise."""
    database_url: str | None = None
    """SQLAlchemy URL; unset means `sqlite:///<data_dir>/hub.db` (WAL). Use
    `postgresql+psycopg://user:pass@host/db` for PostgreSQL."""
    db_pool_size: int = Field(default=8, ge=1)
    """Connections per process for PostgreSQL (SQLite uses one per thread)."""

    host: str = "127.0.0.1"
    """Address the HTTP API listens on (loopback by default; `0.0.0.0` to serve a LAN)."""
    port: int = Field(default=8000, ge=0, le=65535)
    """HTTP port; 0 picks a free one (tests)."""
    public_url: str = "http://127.0.0.1:8000"
    """How devices reach this hub; echoed to them at enrollment."""
    forwarded_allow_ips: str = "127.0.0.1,::1"
    """Proxies whose `X-Forwarded-Proto` and `X-Forwarded-For` the hub believes (comma-separated
    addresses or networks; `*` for any). Behind a TLS-terminating proxy the dashboard's sign-in
    needs the client's scheme: the CSRF origin check compares with it and the session cookie
    is `Secure` on https. The proxy must pass the browser's `Host` header on (nginx:
    `proxy_set_header Host $host`); `X-Forwarded-Host` is not read. List only your proxies: a
    believed header can claim any scheme and client address."""

    admin_api_key: SecretStr | None = None
    """Bootstrap admin key (Bearer). Required outside development; in development an unset key
    is generated at start-up and logged once."""

    mqtt_enabled: bool = True
    """Run the MQTT bridge. Off only for API-only tests and tools."""
    mqtt_host: str = "127.0.0.1"
    """The MQTT broker the hub's one connection goes to."""
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    """The broker's MQTT port."""
    mqtt_username: str | None = "hub"
    """The hub's broker account; None connects anonymously (demo brokers only)."""
    mqtt_password: SecretStr | None = None
    """Password of `mqtt_username`; required in production."""
    mqtt_client_id: str = Field(default="edgefleet-hub", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """The client id of the hub's one MQTT connection (ingest, commands, replies, twin, acks
    all share it), `-<mqtt_replica>` appended when set. Fixed, so a broker can pin the hub
    account to it (docs/broker.md)."""
    mqtt_replica: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    """Suffix of the client id when several hub replicas share one broker account (e.g. a
    pod's ordinal): each needs its own id, or the broker cuts the other's session off."""
    mqtt_outbox_max: int = Field(default=1000, ge=1)
    """Commands of rounds and deployments queued while the hub has no MQTT session, sent when
    it is back; beyond this many, sending fails (503 `mqtt_unavailable`)."""
    mqtt_persistent_session: bool = False
    """Ask the broker to queue QoS 1 traffic while the hub is away (needs an authenticated
    hub account; amqtt keeps no queue for anonymous sessions)."""
    mqtt_acks: bool = True
    """Publish `{d}/ack` with the msg_ids of each committed ingest batch, so agents can drop
    them from their durable outbox (end-to-end acknowledgement, docs/offload.md)."""
    mqtt_shared_group: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """Subscribe to device telemetry as the shared subscription `$share/<group>/...`, so that
    several hub replicas (same group, distinct client ids: `mqtt_replica`) split ingest: the
    broker hands each message to one of them. Needs a broker with shared subscriptions
    (Mosquitto, MQTT 5 brokers; not amqtt 0.12.1). None: every replica receives everything."""
    mqtt_public_host: str | None = None
    """Broker host given to devices at enrollment (defaults to `mqtt_host`)."""
    topic_prefix: str = DEFAULT_PREFIX
    """First topic levels of every contract topic; must match the agents' `topic_prefix`."""
    broker_service_key: SecretStr | None = None
    """Bearer key the broker presents at the broker-auth route (its `hub_service_key`);
    unset: that route refuses every caller."""
    broker_accounts: list[FileEntry] = Field(default_factory=list)
    """Integrator accounts the broker may admit (JSON list of `{name, kind: integrator,
    secret_sha256, publish?, read?, disabled?}`); the hub account is `mqtt_username` /
    `mqtt_password`, devices come from the registry."""
    mqtt_dynsec: bool = False
    """The broker is Mosquitto with the dynamic-security plugin: provision device accounts
    over `$CONTROL/dynamic-security/v1` on enroll, secret rotation and delete."""
    mqtt_dynsec_username: str = "admin"
    """Mosquitto dynamic-security admin account (with `mqtt_dynsec`)."""
    mqtt_dynsec_password: SecretStr | None = None
    """Password of `mqtt_dynsec_username`."""
    ha_discovery_prefix: str | None = DEFAULT_HA_PREFIX
    """Home Assistant discovery prefix; a deleted device's discovery config is cleared there.
    None: no Home Assistant clean-up."""

    heartbeat_interval_s: float = Field(default=10.0, gt=0)
    """Interval at which agents publish `{d}/health`."""
    heartbeat_late_factor: float = Field(default=1.5, gt=1)
    """A heartbeat later than factor x interval makes an online device `degraded`."""
    lost_after_intervals: int = Field(default=3, ge=2)
    """K: no heartbeat for K intervals makes a device `lost` (amqtt fires no Will for a
    half-open client, so presence is decided here)."""
    cpu_degraded: float = Field(default=CPU_HEALTHY_MAX, gt=0, le=1)
    """CPU share above which a device is degraded (the design brief's healthy band)."""
    mem_degraded: float = Field(default=MEM_HEALTHY_MAX, gt=0, le=1)
    """Memory share above which a device is degraded (the healthy band, contract/health.py)."""
    error_rate_degraded: float = Field(default=0.2, gt=0, le=1)
    """Share of failed requests between two heartbeats that makes a device degraded."""
    model_error_window_s: float = Field(default=60.0, gt=0)
    """A model (`internal`) error published within this window keeps a device degraded."""

    ingest_batch_max: int = Field(default=2000, ge=1)
    """Most messages written to SQL in one transaction."""
    ingest_flush_s: float = Field(default=0.1, gt=0)
    """Longest wait before a partial batch is written."""
    ingest_queue_max: int = Field(default=50_000, ge=100)
    """Messages buffered for the writer; when full the bridge stops reading (backpressure)."""
    health_raw_retention_s: float = Field(default=24 * 3600, gt=0)
    """Raw heartbeats are kept this long (then only the per-minute rollups)."""
    health_rollup_retention_s: float = Field(default=30 * 24 * 3600, gt=0)
    """Per-minute health aggregates are kept this long."""
    results_retention_s: float = Field(default=7 * 24 * 3600, gt=0)
    """Results, events and device errors are kept this long."""
    samples_per_device: int = Field(default=500, ge=0)
    """Hard samples kept per device, newest first (docs/hub.md "Hard samples"); 0: none kept."""
    maintenance_interval_s: float = Field(default=60.0, gt=0)
    """How often rollups are computed and expired rows deleted."""

    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Largest request body accepted (413 above)."""
    cloud_models: list[str] = [
        "face-detect-cloud",
        "face-detect-full",
        "wakeword-cloud",
        "wakeword-full",
        "engine-fault-cloud",
        "voice-command",
        "voice-command-whisper",
    ]
    """Models served by the hub's infer route (contract.http.INFER)."""
    infer_max_batch: int = Field(default=8, ge=1)
    """Most queued requests a model's worker takes together (a pipeline with `run_batch` runs
    them as one batch: face-detect-cloud spreads their HOG passes over the cores, BlazeFace its
    images over one copy of itself per core, the engine models one invoke)."""
    infer_queue_max: int = Field(default=256, ge=1)
    """Requests waiting per model beyond this get 503."""
    page_max: int = Field(default=500, ge=1)
    """Largest `limit` a paged API route accepts."""

    registry_key_file: Path | None = None
    """Ed25519 private key (PEM) that signs model versions, generated there if missing (mode
    0600); every replica must mount the same file. Unset: the key is kept in the database,
    made by the first replica to start (one written to `<data_dir>/registry_ed25519.pem`
    by an older hub is taken over, so enrolled devices keep verifying)."""
    artifact_dir: Path | None = None
    """Content-addressed model artifacts and agent bundles in this directory (a volume every
    replica mounts). Unset: in the database, so every replica serves them
    (`<data_dir>/artifacts` of an older hub is still read)."""
    release_upload_max_bytes: int = Field(default=512 << 20, ge=1024)
    """Largest agent bundle an admin may upload (`POST /agent-releases`, checked while reading;
    413 above; `max_body_bytes` does not apply there). The bundle is held in memory while it
    is checked and stored. (Not `agent_...`: `EDGEFLEET_AGENT_*` are the agent's variables.)"""
    fl_update_max_bytes: int = Field(default=1 << 20, ge=1024)
    """Largest federated update body (checked before reading it; 413 above)."""
    fl_tick_s: float = Field(default=0.5, gt=0)
    """How often round deadlines, canary deployments and automatic rounds are checked."""
    fl_auto_rounds: list[AutoRound] = Field(default_factory=list)
    """Rounds the hub starts by itself when devices have sent enough new hard samples (JSON
    list of `{"round": {...}, "min_new_samples", "min_devices", "min_interval_s"}`:
    docs/federated.md "Automatic rounds"); empty: rounds start only from the API or CLI."""

    log_json: bool = True
    """One JSON object per log line (for log shippers); false: plain text."""
    log_level: str = "INFO"
    """Python logging level name."""

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hub.db').resolve()}"

    @property
    def mqtt_session_id(self) -> str:
        """The client id the hub connects with: `mqtt_client_id[-mqtt_replica]`."""
        return (
            f"{self.mqtt_client_id}-{self.mqtt_replica}"
            if self.mqtt_replica
            else (self.mqtt_client_id)
        )

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @model_validator(mode="after")
    def _auto_rounds_can_fire(self) -> Self:
        """A rule waiting for more new samples than a device's kept ones would never fire."""
        for rule in self.fl_auto_rounds:
            if rule.min_new_samples > self.samples_per_device:
                raise ValueError(
                    f"EDGEFLEET_FL_AUTO_ROUNDS: min_new_samples {rule.min_new_samples} is above "
                    f"EDGEFLEET_SAMPLES_PER_DEVICE ({self.samples_per_device}), the hard samples "
                    "the hub keeps per device: the rule could never start a round"
                )
        return self

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Self:
        if self.environment is Environment.DEVELOPMENT:
            return self
        for name in ("admin_api_key", "mqtt_password"):
            value: SecretStr | None = getattr(self, name)
            if value is None or value.get_secret_value().strip().lower() in _WEAK_SECRETS:
                raise ValueError(
                    f"EDGEFLEET_{name.upper()} must be set to a strong secret "
                    f"when EDGEFLEET_ENVIRONMENT={self.environment.value}"
                )
            if len(value.get_secret_value()) < 16:
                raise ValueError(f"EDGEFLEET_{name.upper()} must be at least 16 characters")
        return self
