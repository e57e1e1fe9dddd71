"""Federated round resources (docs/federated.md)."""

from collections import Counter
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from cloud_hub.registry.canary import LATENCY_FLOOR_MS
from cloud_hub.schemas.common import DeviceId, RequestModel, Tag
from cloud_hub.schemas.registry import DeploymentCreate

TRAINABLE = frozenset({"engine-fault"})  # models with a part the devices can train
ParticipantHealth = Literal["live", "healthy"]
"""How healthy a device must be to be chosen for a round (`RoundCreate.health`)."""


class PrivacyConfig(RequestModel):
    """Differential privacy: every update clipped to `clip_norm` (L2), Gaussian noise of
    `noise_multiplier * clip_norm` added to the sum before averaging."""

    clip_norm: float = Field(default=1.0, gt=0, le=1e6)
    noise_multiplier: float = Field(
        default=1.0,
        ge=0,
        le=1e3,
        description="noise of noise_multiplier * clip_norm; past a few units a round learns "
        "nothing (the bound keeps the noise and epsilon finite, found by the API fuzzer)",
    )
    delta: float = Field(default=1e-5, gt=0, lt=1)


class RoundCanary(RequestModel):
    """`deploy: canary`: the published version goes to `percent` of the model's devices first,
    and to the others once those served it for `window_s` without more errors or slower
    answers than the rest (docs/model-registry.md, canary deployments)."""

    percent: float = Field(default=10.0, gt=0, le=100)
    window_s: float = Field(default=300.0, gt=0, le=7 * 24 * 3600)
    max_error_rate: float = Field(default=0.05, ge=0, le=1)
    max_latency_ratio: float = Field(default=1.5, gt=1)
    min_latency_increase_ms: float = Field(default=LATENCY_FLOOR_MS, ge=0)


class RoundCreate(RequestModel):
    model: str = "engine-fault"
    fraction: float = Field(default=1.0, gt=0, le=1, description="share of candidates invited")
    min_clients: int = Field(default=2, ge=1)
    deadline_s: float = Field(default=120.0, gt=0, le=7 * 24 * 3600, description="at most 7 days")
    local_epochs: int = Field(default=1, ge=1, le=100)
    learning_rate: float = Field(default=0.1, gt=0, le=10)
    batch_size: int = Field(default=32, ge=1, le=4096)
    aggregation: Literal["fedavg", "trimmed_mean", "median"] = "fedavg"
    trim: float = Field(default=0.2, ge=0, lt=0.5, description="trimmed_mean: share cut each side")
    mode: Literal["sync", "async"] = "sync"
    buffer_size: int = Field(default=2, ge=1, description="async: updates per aggregation")
    staleness_alpha: float = Field(default=0.5, ge=0, description="async: (1+s)^-alpha weight")
    quantization: Literal["none", "int8"] = "none"
    privacy: PrivacyConfig | None = None
    secure_aggregation: bool = False
    secure_range: float = Field(
        default=1.0,
        gt=0,
        le=100,
        description="secure aggregation with int8: each value of an update is clipped to "
        "+-secure_range and sent in whole steps of secure_range/127, the same on every device "
        "(masked updates of 4 bytes a value instead of 8)",
    )
    max_update_norm: float = Field(default=50.0, gt=0, description="larger updates rejected")
    outlier_threshold: float = Field(default=6.0, gt=0, description="robust z-score of a norm")
    devices: list[DeviceId] | None = Field(
        default=None,
        description="candidates, each once; default: every live device running the model "
        "(with `tag`, in `site`, as healthy as `health` asks)",
    )
    tag: Tag | None = Field(default=None, description="only devices with this tag")
    site: str | None = Field(default=None, max_length=200, description="only devices in this site")
    health: ParticipantHealth = Field(
        default="live",
        description="live: devices online or degraded (connected and answering); healthy: "
        "online only, every heartbeat figure inside its band and no recent model errors "
        "(training costs a device CPU a degraded one may not have)",
    )
    max_regression: float | None = Field(
        default=0.01,
        ge=0,
        le=1,
        description="validation accuracy the result may lose against the base version "
        "(0.01: one point) before the round refuses to publish it; null: no gate",
    )
    deploy: Literal["all", "canary", "none"] = Field(
        default="all", description="roll out the new version: to all, canary first, or not"
    )
    canary: RoundCanary = Field(default_factory=RoundCanary, description="deploy: canary")
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="random generator seed")

    def deployment(self, version: str) -> DeploymentCreate | None:
        """How a published result is rolled out; None: `deploy: none`."""
        if self.deploy == "none":
            return None
        if self.deploy == "all":
            return DeploymentCreate(version=version)
        c = self.canary
        return DeploymentCreate(
            version=version, target="canary", canary_percent=c.percent, window_s=c.window_s,
            max_error_rate=c.max_error_rate, max_latency_ratio=c.max_latency_ratio,
            min_latency_increase_ms=c.min_latency_increase_ms, promote=True,
        )  # fmt: skip

    @model_validator(mode="after")
    def _devices_or_filters(self) -> "RoundCreate":
        chooses = self.tag is not None or self.site is not None or self.health != "live"
        if self.devices is not None and chooses:
            raise ValueError(
                "give `devices`, or `tag` / `site` / `health` to choose them, not both"
            )
        return self

    @field_validator("devices")
    @classmethod
    def _each_device_once(cls, devices: list[str] | None) -> list[str] | None:
        twice = sorted(d for d, n in Counter(devices or []).items() if n > 1)
        if twice:
            raise ValueError(f"devices listed more than once: {', '.join(twice)}")
        return devices


class AutoRound(RequestModel):
    """A round the hub starts by itself (`EDGEFLEET_FL_AUTO_ROUNDS`): when at least
    `min_devices` devices running `round.model` (with `round.tag`, in `round.site`, as healthy
    as `round.health` asks) have each sent `min_new_samples` hard samples of it since the
    model's last round, no round of it is under way and `min_interval_s` has passed since the
    last one started. Those devices are the round's `devices`; the rest of `round` is the
    round's configuration."""

    round: RoundCreate = Field(default_factory=RoundCreate)
    min_new_samples: int = Field(default=200, ge=1)
    min_devices: int = Field(default=2, ge=1)
    min_interval_s: float = Field(default=3600.0, ge=0)

    @model_validator(mode="after")
    def _devices_are_chosen_here(self) -> "AutoRound":
        if self.round.devices is not None:
            raise ValueError("an automatic round chooses its devices: leave `round.devices` out")
        if self.round.model not in TRAINABLE:
            raise ValueError(
                f"model {self.round.model!r} has no trainable part: federated rounds train "
                f"{', '.join(sorted(TRAINABLE))}"
            )
        return self

    def create(self, devices: list[str]) -> RoundCreate:
        """The round to start with `devices`."""
        body = self.round.model_dump(exclude={"tag", "site", "health"}) | {"devices": devices}
        return RoundCreate.model_validate(body)


class ParticipantPublic(BaseModel):
    device_id: str
    state: str = Field(description="invited | keyed | uploaded | unmasked | rejected | dropped")


class UpdatePublic(BaseModel):
    id: int
    device_id: str
    size_bytes: int
    encoding: str | None
    samples: int | None
    norm: float | None = Field(description="L2 norm (null under secure aggregation)")
    staleness: int | None
    accepted: bool
    aggregated: bool
    reason: str | None = Field(
        description="why it was rejected: oversize, non_finite, "
        "wrong_shape, wrong_dtype, malformed, norm_too_large, "
        "outlying_norm, duplicate, not_participant, unenrolled, "
        "round_closed"
    )
    detail: str | None
    metrics: dict[str, Any]
    created_at: datetime


class RoundPublic(BaseModel):
    id: int
    model: str
    state: str = Field(description="open | training | unmasking | aggregating | published | failed")
    config: dict[str, Any]
    base_version: str | None
    result_version: str | None
    step: int = Field(description="aggregations done (async rounds take several)")
    privacy: dict[str, Any]
    metrics: dict[str, Any]
    aggregation_ms: float | None
    reason: str | None
    deadline: datetime
    created_at: datetime
    updated_at: datetime
    participants: list[ParticipantPublic]
    updates: dict[str, int] = Field(description="accepted / rejected counts")


class KeyAnnouncement(RequestModel):
    public_key: str = Field(min_length=40, max_length=64, description="X25519, base64")


class UnmaskSecrets(RequestModel):
    """A surviving participant's X25519 shared secret with each peer that dropped out."""

    secrets: dict[DeviceId, str] = Field(
        max_length=1000, description="dropped device -> the 32-byte shared secret, base64"
    )
