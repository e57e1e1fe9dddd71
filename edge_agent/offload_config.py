"""The `offload:` section of the agent's configuration (docs/offload.md): how each pipeline uses
the hub, the policy's rules of thumb, the cloud client's timeouts and breaker, hard samples."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class PipelineOffloadConfig(BaseModel):
    """How one pipeline uses the cloud (docs/offload.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["edge", "cloud", "adaptive", "cascade"] = "edge"
    """edge: always local; cloud: the hub's model (local when it is down); adaptive: per
    request, whichever answers sooner; cascade: local, then the hub for uncertain answers."""
    cloud_model: str | None = None
    """Model the hub runs for this pipeline; default: the catalogue's `offload_to` for the
    model (face-detect-lite -> face-detect-cloud), else `-lite` -> `-full`."""
    uncertain: tuple[float, float] | None = None
    """Cascade band [low, high] of the light model's confidence sent to the cloud;
    default `offload.policy.uncertain_low/high`. Wake words use it only with `rescue_words: []`."""
    rescue_words: list[str] | None = None
    """Cascade, wake-word outputs: words the cloud may add a detection of when the edge stays
    silent (docs/offload.md); None: `okay_nabu`, `alexa` and `hey_mycroft` (`wakeword-cloud`);
    []: no rescue, the band rule (`uncertain`) with the cloud's answer replacing the edge's."""
    rescue_min_probability: float = Field(default=0.2, ge=0, le=1)
    """Cascade rescue: ask the cloud only when the silent edge gave a rescue word at least this
    probability (saves traffic; 0 asks about every silent clip)."""
    spot_checks: float = Field(default=0.0, ge=0, le=1)
    """Cascade: the share of *confident* answers also sent to the hub, at random, so the hard
    samples it keeps include inputs the device is sure of, with the hub's labels: what
    co-evolution rounds need not to forget them (docs/offload.md; `bench evolve` uses 0.1).
    0: only unsure answers are sent."""
    verify_detections: bool = True
    """Cascade, wake-word outputs with rescue words: the edge's detections are sent to the hub
    and its answer replaces the edge's, so the hub's `wakeword-cloud` can veto near misses
    ("a lexus"); false: the edge's detections stand (a hub model weaker than the device's,
    e.g. `wakeword-full`, could only lose true ones)."""
    priority: Literal["normal", "high"] = "normal"
    """high: on an idle device (load < `offload.policy.full_model_load_max`) requests run on the
    full model (`local_full_model`), loaded on demand and unloaded when idle (docs/offload.md)."""
    local_full_model: str | None = None
    """Full model loaded on the device for high priority; default: `contract.ids.full_model`
    of the id (`-lite` -> `-full`)."""

    @field_validator("rescue_words")
    @classmethod
    def _rescue_words(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        bad = [w for w in value if not w.strip()]
        if bad:
            raise ValueError(f"rescue_words must be wake word ids such as 'okay_nabu', got {bad!r}")
        duplicates = sorted({w for w in value if value.count(w) > 1})
        if duplicates:
            raise ValueError(f"rescue_words lists {duplicates} more than once")
        return value


class OffloadConfig(BaseModel):
    """Adaptive offload, cascade and the cloud client (hub.url + device credentials)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pipelines: dict[str, PipelineOffloadConfig] = Field(default_factory=dict)
    """Per model id; models not named here run on the edge."""
    policy: dict[str, float] = Field(default_factory=dict)
    """Overrides of `edge_agent.offload.Thresholds` (rules of thumb of docs/offload.md)."""
    timeout_s: float = Field(default=2.0, gt=0)
    """Cloud call timeout; a timeout counts as a failure for the circuit breaker."""
    breaker_failures: int = Field(default=3, ge=1)
    """Consecutive failures that open the circuit breaker."""
    breaker_cooldown_s: float = Field(default=2.0, gt=0)
    """Seconds the breaker stays open before a half-open trial."""
    probe_interval_s: float = Field(default=2.0, gt=0)
    """Seconds between checks for a light `GET /healthz` probe: sent while the breaker is open
    or half-open, or when nothing measured the link for 16 s (docs/offload.md)."""
    hard_samples_dir: Path | None = None
    """Where cascade keeps hard samples while the cloud is down; default under the state dir."""
    hard_samples_max: int = Field(default=1000, ge=0)
    """Most hard samples kept (oldest deleted first); 0 keeps none."""
    share_hard_samples: bool = True
    """Cascade: send the device's own answer with each second-opinion request, so the hub
    keeps the input with both answers for review and training (docs/hub.md "Hard samples");
    false: the hub sees the input only to answer it."""
    full_model_idle_s: float = Field(default=60.0, gt=0)
    """A full model loaded on demand is unloaded after this long without a request."""

    @field_validator("policy")
    @classmethod
    def _policy_keys(cls, value: dict[str, float]) -> dict[str, float]:
        from edge_agent.offload import Thresholds

        known = Thresholds.__dataclass_fields__
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown policy keys {unknown}; known: {sorted(known)}")
        return value

    @model_validator(mode="after")
    def _rescue_words_known(self) -> "OffloadConfig":
        """Rescue words must be words of both the device's and the hub's wake-word model (for
        models in the catalogue): a word either side lacks could never be rescued."""
        from models.catalogue import load_catalogue, offload_target
        from models.errors import ModelError

        try:
            catalogue = load_catalogue()
        except ModelError:
            return self  # the agent reports the broken catalogue when it loads its models
        for model, pc in self.pipelines.items():
            if not pc.rescue_words:
                continue
            where = f"offload.pipelines.{model}.rescue_words"
            cloud = pc.cloud_model or offload_target(model, catalogue)
            for side in dict.fromkeys((model, cloud)):
                if side not in catalogue:
                    continue  # not a catalogue model: nothing to check against
                spec = catalogue.get(side)
                if spec.task != "wakeword":
                    raise ValueError(f"{where}: {side} is a {spec.task} model, not a wake-word one")
                unknown = [w for w in pc.rescue_words if w not in spec.labels]
                if unknown:
                    raise ValueError(
                        f"{where}: {unknown} are not words of {side}; it knows {spec.labels}"
                    )
        return self
