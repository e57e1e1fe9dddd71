"""The `peers:` section of the agent's configuration (docs/offload.md "Site gateways"): serving
the device's models to the other devices of its site, and offloading to its site's gateways."""

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PeerWeights(BaseModel):
    """How a remote target (a gateway, the hub) is scored; lower wins (`offload.best_remote`).
    Each term is 0..1-ish: latency relative to the fastest remote, the target's load, and what
    its model loses against the best model (`1 - quality`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency: float = Field(default=0.5, ge=0)
    load: float = Field(default=0.3, ge=0)
    quality: float = Field(default=0.2, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> "PeerWeights":
        if self.latency + self.load + self.quality <= 0:
            raise ValueError("peers.weights: at least one weight must be above 0")
        return self


class PeersConfig(BaseModel):
    """Site gateways. Both sides need MQTT 5 (`broker.protocol: "5"`, Mosquitto): a request to
    a gateway carries a response topic, which MQTT 3.1.1 (and the embedded amqtt broker) lacks.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    serve: bool = False
    """Be a gateway: register at the hub as the site's peer service, offering this agent's
    models to the other devices of its site (the broker grants them its `infer` topics)."""
    use: bool = True
    """Offload to the site's gateways the hub lists, where a pipeline offloads (`adaptive`,
    `cascade`); needs `hub.url`. False: the hub is the only remote target."""
    refresh_s: float = Field(default=30.0, gt=0)
    """How often the hub's list of the site's gateways is read (and a gateway re-registers)."""
    timeout_s: float = Field(default=2.0, gt=0)
    """A request a gateway has not answered within this long fails over to the next target
    and counts against that gateway's circuit breaker."""
    stale_s: float = Field(default=12.0, gt=0)
    """The probe period: a gateway whose `health` heartbeat is older than this is dropped
    (its `status` going `offline`, e.g. its Last Will, drops it at once)."""
    breaker_failures: int = Field(default=2, ge=1)
    """Consecutive failures (timeouts, refusals) that open a gateway's circuit breaker."""
    breaker_cooldown_s: float = Field(default=5.0, gt=0)
    """Seconds a gateway's breaker stays open before one trial request."""
    quality: dict[str, float] = Field(default_factory=dict)
    """Per model id, its quality 0..1 for the score (e.g. its accuracy in `edgefleet bench
    offload`); a model not named here counts as 1."""
    weights: PeerWeights = PeerWeights()
