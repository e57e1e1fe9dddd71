"""How each pipeline uses the cloud (`offload.pipelines` of the agent config), and what the hub
is told about an input."""

from dataclasses import dataclass, replace

from contract.ids import full_model
from edge_agent import cascade
from edge_agent.config import AgentConfig
from edge_agent.offload import Mode, Thresholds

VOICE_HINTS = ("wakeword", "vad", "speech", "voice")


def content_type(payload: bytes, voice: bool) -> str:
    """What the hub needs to know about a raw input."""
    if payload.startswith(b"\x89PNG"):
        return "image/png"
    if payload.startswith(b"RIFF"):
        return "audio/wav"
    return "audio/L16" if voice else "image/jpeg"


@dataclass(frozen=True, slots=True)
class Plan:
    """How one pipeline uses the cloud."""

    mode: Mode
    cloud_model: str
    thresholds: Thresholds
    voice: bool
    rescue: cascade.Rescue | None = None  # cascade on wake-word outputs; None: the band rule


def make_plans(config: AgentConfig, base: Thresholds) -> dict[str, Plan]:
    """The plan of every pipeline the config names under `offload.pipelines`."""
    plans: dict[str, Plan] = {}
    for model, pc in config.offload.pipelines.items():
        t = base
        if pc.uncertain is not None:
            t = replace(base, uncertain_low=pc.uncertain[0], uncertain_high=pc.uncertain[1])
        voice = any(h in model for h in VOICE_HINTS)
        cloud_model = pc.cloud_model or full_model(model)
        words = cascade.DEFAULT_RESCUE_WORDS if pc.rescue_words is None else pc.rescue_words
        rescue = cascade.Rescue(tuple(words), pc.rescue_min_probability) if words else None
        plans[model] = Plan(Mode(pc.mode), cloud_model, t, voice, rescue)
    return plans
