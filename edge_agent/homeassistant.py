"""Home Assistant MQTT discovery: one device-based discovery config per agent.

Pure payload builders plus a small announcer the agent drives (docs/home-assistant.md):

- topic `<ha>/device/edgefleet_<d>/config`, retained, QoS 1
  (`contract.homeassistant.ha_discovery_topic`, the only HA topic a device may publish);
- `dev` (the device), `o` (origin: edgefleet), `avty` (availability from our retained
  `{d}/status`, `{{ value_json.state }}` = `online` / `offline`), shared `qos`;
- `cmps`: a `binary_sensor` per detection the agent can produce (`face`, `wakeword`, `fault`),
  driven by our `{d}/event/{kind}` topic (every event turns it on, `off_delay` turns it off,
  the event's `data` become attributes); an `event` entity for spoken commands where the agent
  sends them to the hub (`{d}/event/intent`, one event type per intent plus `not_understood`,
  docs/voice-commands.md); and diagnostic `sensor`s read from `{d}/health`
  with value templates (CPU, memory, inference p50, queue depth, offload ratio, uptime);
- an `image` per camera the agent reads itself, from its retained `{d}/snapshot/{name}` (the
  last detection, boxes drawn).

Unique ids are stable: `edgefleet_<d>_<component>`. The agent publishes the config after each
(re)connect and again whenever Home Assistant announces itself (`<ha>/status` = `online`); the
hub clears it (empty retained payload) when the device is deleted.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from contract import Kind, Topics
from contract.homeassistant import ha_discovery_topic, ha_node_id, ha_status_topic
from contract.topics import SPEC_BY_KIND
from edge_agent.messages import Outbound

ORIGIN_NAME = "edgefleet"
MANUFACTURER = "edgefleet"
HA_ONLINE = b"online"

TASK_KINDS = {"face-detection": "face", "wakeword": "wakeword", "tabular": "fault"}
"""Catalogue task -> the event kind its results raise (edge_agent.replies.events_for)."""

# kind -> (entity name, binary_sensor device class, seconds the detection stays `on`)
DETECTIONS: dict[str, tuple[str, str | None, int]] = {
    "face": ("Face detected", "occupancy", 10),
    "wakeword": ("Wake word", "sound", 5),
    "fault": ("Engine fault", "problem", 60),
}

# component -> (name, value template on a Health message, unit, device class)
HEALTH_SENSORS: dict[str, tuple[str, str, str | None, str | None]] = {
    "cpu": ("CPU", "{{ (value_json.cpu * 100) | round(1) }}", "%", None),
    "mem": ("Memory", "{{ (value_json.mem * 100) | round(1) }}", "%", None),
    "infer_ms_p50": (
        "Inference p50",
        "{{ value_json.infer_ms_p50 | float(0) | round(2) }}",
        "ms",
        "duration",
    ),
    "queue_depth": ("Queue depth", "{{ value_json.queue_depth }}", None, None),
    "offload_ratio": (
        "Offload ratio",
        "{{ (value_json.offload_ratio * 100) | round(1) }}",
        "%",
        None,
    ),
    "uptime": ("Uptime", "{{ value_json.uptime_s | round(0) }}", "s", "duration"),
}


def kind_for_model(model: str, task: str | None = None) -> str | None:
    """The detection (event kind) a model produces: from its catalogue task, else its id."""
    if task in TASK_KINDS:
        return TASK_KINDS[task]
    for needle, kind in (("face", "face"), ("wake", "wakeword"), ("fault", "fault")):
        if needle in model:
            return kind
    return None


def detection_kinds(
    models: Iterable[str], tasks: Mapping[str, str | None] | None = None
) -> list[str]:
    """Event kinds of these models, in DETECTIONS order, without duplicates."""
    tasks = tasks or {}
    found = {kind_for_model(m, tasks.get(m)) for m in models}
    return [kind for kind in DETECTIONS if kind in found]


def _unique_id(device: str, component: str) -> str:
    return f"{ha_node_id(device)}_{component}"


def discovery_config(
    *,
    device: str,
    topics: Topics,
    agent_version: str,
    kinds: Iterable[str],
    health_interval_s: float,
    name: str | None = None,
    cameras: Iterable[str] = (),
    intents: Iterable[str] = (),
) -> dict[str, Any]:
    """The device-based discovery payload (abbreviated keys, as HA documents them); `intents`:
    the event types of spoken commands, none where the agent does not hear commands."""
    status = topics.status(device)
    health = topics.health(device)
    components: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        label, device_class, off_delay = DETECTIONS[kind]
        event = topics.event(device, kind)
        component: dict[str, Any] = {
            "p": "binary_sensor",
            "name": label,
            "uniq_id": _unique_id(device, kind),
            "stat_t": event,
            "val_tpl": "{{ 'ON' }}",  # every event is a detection
            "pl_on": "ON",
            "off_dly": off_delay,
            "json_attr_t": event,
            "json_attr_tpl": "{{ value_json.data | tojson }}",
        }
        if device_class:
            component["dev_cla"] = device_class
        components[kind] = component
    if event_types := list(intents):
        intent = topics.event(device, "intent")
        components["intent"] = {
            "p": "event",
            "name": "Voice command",
            "uniq_id": _unique_id(device, "intent"),
            "stat_t": intent,
            "evt_typ": event_types,
            "val_tpl": "{{ value_json.data | tojson }}",  # carries `event_type` and the rest
        }
    expire = max(1, round(3 * health_interval_s))  # unavailable after 3 missed heartbeats
    for key, (label, template, unit, device_class) in HEALTH_SENSORS.items():
        sensor: dict[str, Any] = {
            "p": "sensor",
            "name": label,
            "uniq_id": _unique_id(device, key),
            "stat_t": health,
            "val_tpl": template,
            "stat_cla": "measurement",
            "ent_cat": "diagnostic",
            "exp_aft": expire,
        }
        if unit:
            sensor["unit_of_meas"] = unit
        if device_class:
            sensor["dev_cla"] = device_class
        components[key] = sensor
    for camera in cameras:  # HA's MQTT image: raw JPEG bytes on `image_topic`
        components[f"camera_{camera}"] = {
            "p": "image",
            "name": f"Camera {camera}",
            "uniq_id": _unique_id(device, f"camera_{camera}"),
            "image_topic": topics.snapshot(device, camera),
            "content_type": "image/jpeg",
        }
    return {
        "dev": {
            "ids": [ha_node_id(device)],
            "name": name or f"edgefleet {device}",
            "mf": MANUFACTURER,
            "mdl": "edge agent",
            "sw": agent_version,
        },
        "o": {"name": ORIGIN_NAME, "sw": agent_version},
        "avty": [
            {
                "t": status,
                "val_tpl": "{{ value_json.state }}",
                "pl_avail": "online",
                "pl_not_avail": "offline",
            }
        ],
        "qos": SPEC_BY_KIND[Kind.EVENT].qos,
        "cmps": components,
    }


@dataclass(frozen=True)
class HomeAssistantDiscovery:
    """What the agent needs: its HA subscription, the announcement and when to repeat it."""

    ha_prefix: str
    device: str
    payload: bytes

    @classmethod
    def build(
        cls,
        *,
        ha_prefix: str,
        device: str,
        topics: Topics,
        agent_version: str,
        kinds: Iterable[str],
        health_interval_s: float,
        name: str | None = None,
        cameras: Iterable[str] = (),
        intents: Iterable[str] = (),
    ) -> "HomeAssistantDiscovery":
        config = discovery_config(
            device=device,
            topics=topics,
            agent_version=agent_version,
            kinds=kinds,
            health_interval_s=health_interval_s,
            name=name,
            cameras=cameras,
            intents=intents,
        )
        return cls(ha_prefix, device, json.dumps(config, separators=(",", ":")).encode())

    @property
    def topic(self) -> str:
        return ha_discovery_topic(self.ha_prefix, self.device)

    @property
    def status_topic(self) -> str:
        return ha_status_topic(self.ha_prefix)

    def announcement(self) -> Outbound:
        return Outbound(self.topic, self.payload, 1, True, label="ha_discovery")

    def on_message(self, topic: str, payload: bytes) -> Outbound | None:
        """HA's birth (`online` on `<ha>/status`) asks every device to announce again."""
        if topic == self.status_topic and payload.strip() == HA_ONLINE:
            return self.announcement()
        return None


def catalogue_tasks(models: Iterable[str]) -> dict[str, str | None]:
    """Each model's catalogue task (None for a model the catalogue does not know)."""
    try:
        from models.catalogue import load_catalogue

        catalogue = load_catalogue()
    except Exception:  # no catalogue: fall back to the model ids
        return {}
    tasks: dict[str, str | None] = {}
    for model in models:
        try:
            tasks[model] = catalogue.get(model).task
        except Exception:
            tasks[model] = None
    return tasks


def for_agent(
    *,
    enabled: bool,
    ha_prefix: str,
    device: str,
    topics: Topics,
    agent_version: str,
    models: list[str],
    health_interval_s: float,
    name: str | None = None,
    cameras: Iterable[str] = (),
    intents: Iterable[str] = (),
) -> HomeAssistantDiscovery | None:
    """The agent's discovery announcer, or None when Home Assistant discovery is off."""
    if not enabled:
        return None
    return HomeAssistantDiscovery.build(
        ha_prefix=ha_prefix,
        device=device,
        topics=topics,
        agent_version=agent_version,
        kinds=detection_kinds(models, catalogue_tasks(models)),
        health_interval_s=health_interval_s,
        name=name,
        cameras=cameras,
        intents=intents,
    )
