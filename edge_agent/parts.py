"""The agent's parts built from its configuration: the hub client, the hard-sample store and
the outbox, and where the device keeps its state."""

import os
from pathlib import Path
from typing import TYPE_CHECKING

from edge_agent.cloud import CircuitBreaker, CloudClient
from edge_agent.config import AgentConfig
from edge_agent.outbox import FullPolicy, MemoryStore, Outbox, OutboxStore, SqliteStore

if TYPE_CHECKING:
    from edge_agent.dispatch import Dispatcher
    from edge_agent.hard_samples import HardSamples
    from edge_agent.voice_commands import VoiceCommands


def state_dir() -> Path:
    """Where the agent keeps its outbox and hard samples by default."""
    env = os.environ.get("EDGEFLEET_STATE_DIR")
    return Path(env) if env else Path.home() / ".local" / "state" / "edgefleet"


def hears_commands(config: AgentConfig) -> bool:
    """Whether commands spoken after a wake word go to the hub: enabled, a hub, a voice model."""
    if not config.voice_commands.enabled or config.hub.url is None:
        return False
    from edge_agent.plans import input_kind
    from models.catalogue import Catalogue, load_catalogue
    from models.errors import ModelError

    try:
        catalogue: Catalogue | None = load_catalogue(model_dir=config.model_dir)
    except ModelError:
        catalogue = None
    return any(input_kind(m, catalogue) == "audio" for m in config.models)


def make_cloud(config: AgentConfig, commands: bool) -> CloudClient | None:
    """The hub client, when the config names a hub and some pipeline or voice commands
    (`commands`: `hears_commands`) use it."""
    url = config.hub.url
    offloads = any(p.mode != "edge" for p in config.offload.pipelines.values())
    if url is None or not (offloads or commands):
        return None
    o = config.offload
    auth = config.hub_auth
    return CloudClient(
        url,
        auth[0] if auth else config.device_id,
        auth[1] if auth else None,
        timeout_s=o.timeout_s,
        breaker=CircuitBreaker(o.breaker_failures, o.breaker_cooldown_s),
    )


def site_roles(config: AgentConfig) -> tuple[bool, bool]:
    """(serve, use): whether this agent is a site gateway, and whether it offloads to the
    site's gateways. Both need the hub (the list, the registration) and MQTT 5."""
    p, hub = config.peers, config.hub.url is not None and config.hub_auth is not None
    v5 = config.broker.protocol == "5"
    offloads = any(pc.mode in ("adaptive", "cascade") for pc in config.offload.pipelines.values())
    return p.serve and hub and v5, p.use and hub and v5 and offloads


def make_hard_samples(config: AgentConfig) -> "HardSamples | None":
    if not any(p.mode == "cascade" for p in config.offload.pipelines.values()):
        return None
    from edge_agent.hard_samples import HardSamples  # only where a cascade keeps samples

    directory = config.offload.hard_samples_dir
    directory = directory or state_dir() / f"hard-samples-{config.device_id}"
    return HardSamples(directory, config.offload.hard_samples_max)


def make_outbox(config: AgentConfig) -> Outbox:
    c = config.outbox
    full = FullPolicy(c.full_policy)
    store: OutboxStore
    if c.memory:
        store = MemoryStore(c.max_messages, full)
    else:
        path = c.path or state_dir() / f"outbox-{config.device_id}.sqlite"
        store = SqliteStore(path, c.max_messages, full)
    return Outbox(
        store,
        window=c.window,
        ack_timeout_s=c.ack_timeout_s,
        ack_timeout_max_s=c.ack_timeout_max_s,
    )


def hub_acks(config: AgentConfig) -> bool:
    """Whether outbox entries wait for the hub's `{d}/ack` (else the broker's PUBACK)."""
    mode = config.outbox.ack
    return mode == "hub" or (mode == "auto" and config.hub.url is not None)


def make_voice_commands(
    config: AgentConfig, cloud: CloudClient | None, dispatch: "Dispatcher", commands: bool
) -> "VoiceCommands | None":
    """What hears the commands after wake words, where `commands` (`hears_commands`)."""
    if cloud is None or not commands:
        return None
    from edge_agent.voice_commands import VoiceCommands

    return VoiceCommands(
        config.voice_commands,
        cloud,
        dispatch.replies,
        dispatch.stats,
        dispatch.publish_all,
        dispatch.reject,
    )
