"""How each pipeline uses the cloud (`offload.pipelines` of the agent config), and what the hub
is told about an input."""

from dataclasses import dataclass, replace

from edge_agent import cascade
from edge_agent.config import AgentConfig
from edge_agent.offload import Mode, Thresholds
from models.catalogue import Catalogue, load_catalogue, offload_target
from models.errors import ModelError

VOICE_HINTS = ("wakeword", "vad", "speech", "voice")  # models outside the catalogue


def input_kind(model: str, catalogue: Catalogue | None) -> str:
    """The catalogue's input kind (image, audio, tabular); for a model outside the catalogue,
    audio when its id says so, else image."""
    if catalogue is not None and model in catalogue:
        return str(catalogue.get(model).input.kind)
    return "audio" if any(h in model for h in VOICE_HINTS) else "image"


def content_type(payload: bytes, kind: str) -> str:
    """What the hub needs to know about a raw input of a model taking `kind`."""
    if kind == "tabular":
        return "application/json"
    if payload.startswith(b"\x89PNG"):
        return "image/png"
    if payload.startswith(b"RIFF"):
        return "audio/wav"
    return "audio/L16" if kind == "audio" else "image/jpeg"


@dataclass(frozen=True, slots=True)
class Plan:
    """How one pipeline uses the cloud."""

    mode: Mode
    cloud_model: str
    thresholds: Thresholds
    kind: str  # the model's input kind: image, audio, tabular (content types, policy)
    rescue: cascade.Rescue | None = None  # cascade on wake-word outputs; None: the band rule
    spot_checks: float = 0.0  # cascade: share of confident answers also sent to the cloud

    @property
    def voice(self) -> bool:
        return self.kind == "audio"


def make_plans(config: AgentConfig, base: Thresholds) -> dict[str, Plan]:
    """The plan of every pipeline the config names under `offload.pipelines`."""
    plans: dict[str, Plan] = {}
    try:  # read once for every pipeline (start-up); a broken one is reported at model load
        catalogue: Catalogue | None = load_catalogue(model_dir=config.model_dir)
    except ModelError:
        catalogue = None
    for model, pc in config.offload.pipelines.items():
        t = base
        if pc.uncertain is not None:
            t = replace(base, uncertain_low=pc.uncertain[0], uncertain_high=pc.uncertain[1])
        kind = input_kind(model, catalogue)
        cloud_model = pc.cloud_model or offload_target(model, catalogue)
        words = cascade.DEFAULT_RESCUE_WORDS if pc.rescue_words is None else pc.rescue_words
        rescue = (
            cascade.Rescue(tuple(words), pc.rescue_min_probability, pc.verify_detections)
            if words
            else None
        )
        plans[model] = Plan(Mode(pc.mode), cloud_model, t, kind, rescue, pc.spot_checks)
    return plans
