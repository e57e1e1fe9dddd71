"""What `edgefleet bench offload` compares: four modes x four scenarios, three data sets; and
the `gateway` scenario (edge-only, cloud-only, gateway-only, adaptive with a site gateway)."""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("edge", "cloud", "adaptive", "cascade")  # the default run's
SCENARIOS = ("idle", "cpu", "delay", "down")  # the default run's
# the scenario with a site gateway (opt-in, `-s gateway`: it needs Mosquitto): a fleet of its
# own (fleet.gateway_fleet) comparing GATEWAY_MODES, gateway-only (mode `gateway`) among them
GATEWAY = "gateway"
GATEWAY_MODES = ("edge", "cloud", "gateway", "adaptive")
ALL_MODES = ("edge", "cloud", "gateway", "adaptive", "cascade")  # in table order
ALL_SCENARIOS = (*SCENARIOS, GATEWAY)  # in the order they run
SINGLE_TARGETS = ("edge", "cloud", "gateway")  # modes that always answer from one place
WHERE = ("edge", "gateway", "cloud")  # an InferResult's `where`
MODE_TITLES = {
    "edge": "edge-only",
    "cloud": "cloud-only",
    "gateway": "gateway-only",
    "adaptive": "adaptive",
    "cascade": "cascade",
}
SCENARIO_TITLES = {
    "idle": "idle",
    "cpu": "device CPU saturated",
    "delay": "+300 ms to the cloud",
    "down": "cloud down",
    "gateway": "site gateway, device CPU saturated, +100 ms to the cloud",
}
VISION, VOICE, ENGINE = "vision", "voice", "engine"
KINDS = (VISION, VOICE, ENGINE)
EDGE_MODELS = {VISION: "face-detect-lite", VOICE: "wakeword-lite", ENGINE: "engine-fault"}
CLOUD_MODELS = {VISION: "face-detect-cloud", VOICE: "wakeword-cloud", ENGINE: "engine-fault-cloud"}
# `gateway`: one model everywhere - on the device, the gateway and the hub - as in
# tests/e2e/test_gateway_e2e.py: a device that can run the full model but is saturated. (With
# the light model on the device nothing remote is ever faster: face-detect-lite answers in
# ~30 ms on the starved CPU, face-detect-cloud takes ~400 ms anywhere.)
GATEWAY_MODELS = {VISION: "face-detect-full", VOICE: "wakeword-full", ENGINE: "engine-fault-cloud"}


@dataclass(frozen=True)
class CascadeBands:
    """The cascade's band per data set (None: the agent's default); voice with a band uses the
    band rule on the doubt head (`rescue_words: []`) instead of verify-and-rescue."""

    face: tuple[float, float] | None = None
    engine: tuple[float, float] | None = None
    voice: tuple[float, float] | None = None


def device_model(scenario: str, kind: str) -> str:
    """The model the devices are asked for in `scenario` (and offload for `kind`)."""
    return GATEWAY_MODELS[kind] if scenario == GATEWAY else EDGE_MODELS[kind]


def cloud_model(scenario: str, kind: str) -> str:
    """The model a device's offloaded requests run in `scenario`."""
    return GATEWAY_MODELS[kind] if scenario == GATEWAY else CLOUD_MODELS[kind]


# Energy on the device: the agent's CPU-seconds per request (measured here) x the power one busy
# core adds on a Raspberry Pi (W): (all-core load - idle) / 4 from published measurements, Pi 4
# 2.2 W idle, 5.4 W loaded; Pi 5 ~2.6 W idle, ~7 W loaded (docs/benchmarks.md). This host's
# cores are faster than a Pi's, so the figure is a lower bound of a Pi's energy per request.
CORE_WATTS = {"pi4": 0.8, "pi5": 1.1}
P99_SLACK = 0.10  # adaptive's p99 within 10 % of the better of edge-only and cloud-only


@dataclass
class OffloadBenchConfig:
    # labelled images (vision) and clips (voice), each asked of every mode in every scenario;
    # 500 so that p99 is the 5th slowest answer, not the single slowest (docs/benchmarks.md)
    faces: int = 500
    clips: int = 500
    readings: int = 500  # engine readings (0: none)
    warmup: int = 4  # unmeasured requests per mode, data set and scenario
    scenarios: tuple[str, ...] = SCENARIOS
    modes: tuple[str, ...] = MODES
    delay_ms: float = 300.0
    gateway_delay_ms: float = 100.0  # `gateway`: the hub's round trip (the gateway is local)
    stress_processes: int = 2
    stress_nice: int = -5  # the stress outranks the agents (a busy device), when allowed
    time_limit_s: float = 400.0  # cap per scenario and data set (whole rounds)
    period_s: float = 0.06  # each agent gets at most one request per period (a request rate)
    seed: int = 0
    broker: str = "auto"  # mosquitto | amqtt | auto (mosquitto if installed)
    voice: bool = True  # needs espeak-ng
    # cascade: light answers whose confidence is in [low, high] ask the full model. Faces:
    # 1 - the doubt head's estimate (models/training/face_doubt.py); up to 0.6 asks about
    # 30-35 % of its validation images (seed 900, not this bench's; docs/offload.md)
    face_band: tuple[float, float] = (0.0, 0.6)
    # engine cascade: 1 - the doubt head's estimate (models/training/engine_doubt.py) up to
    # 0.5 asks the hub (the head's own cut; before 2026-12-06 the top-class probability up to
    # 0.6: 43 % of held-out readings, 61 % of the gap, docs/models.md)
    engine_band: tuple[float, float] = (0.0, 0.5)
    # voice cascade: None, the agent's default verify-and-rescue rule (docs/offload.md "Voice
    # cascade"); a band, the band rule on 1 - the doubt head's estimate (`--voice-band`)
    voice_band: tuple[float, float] | None = None
    # every voice clip spoken by this voice instead of the generator's espeak-ng ones (e.g.
    # flite:kal16, held out of every model's tuning: docs/models.md "Cloud wake-word verifier")
    clip_voice: str | None = None
    # seconds between the agents' light RTT probes of the hub; None: the agent's default
    probe_interval_s: float | None = None
    plots: bool = True

    @property
    def bands(self) -> CascadeBands:
        return CascadeBands(self.face_band, self.engine_band, self.voice_band)

    def validate(self) -> None:
        bad = [s for s in self.scenarios if s not in ALL_SCENARIOS]
        if bad:
            raise ValueError(f"unknown scenarios {bad}; known: {list(ALL_SCENARIOS)}")
        bad = [m for m in self.modes if m not in ALL_MODES]
        if bad:
            raise ValueError(f"unknown modes {bad}; known: {list(ALL_MODES)}")
        if self.faces < 1 or self.clips < 0 or self.readings < 0 or self.warmup < 0:
            raise ValueError("--faces must be >= 1, --clips, --readings and --warmup >= 0")
        if self.clip_voice is not None and self.voice and self.clips:
            from models.datasets.speech import unknown_voice

            why = unknown_voice(self.clip_voice)
            if why is not None:
                raise ValueError(f"--clip-voice: {why}")
        if self.broker not in ("auto", "mosquitto", "amqtt"):
            raise ValueError("--broker: auto, mosquitto or amqtt")
        if GATEWAY in self.scenarios and self.broker == "amqtt":
            raise ValueError("-s gateway needs MQTT 5: --broker mosquitto (or auto)")
