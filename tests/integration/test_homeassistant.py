"""Home Assistant MQTT discovery on both brokers: a real agent and hub, an HA-like subscriber.

The payload is checked against Home Assistant's documented schema. Source: the Home Assistant
documentation page **"MQTT"** (home-assistant.io, `source/_integrations/mqtt.markdown`),
sections "Device discovery payload", "Discovery messages" (discovery topic, supported
abbreviations), "Using availability topics" and "Adding information about the origin of a
discovery message"; plus the platform pages "MQTT Binary sensor" and "MQTT Sensor" for the
component options. What we validate (HA_* tables below):

- topic `<discovery_prefix>/device/<object_id>/config`; ids only `[a-zA-Z0-9_-]`;
- root: `device` (`dev`) and `origin` (`o`) mappings are mandatory; components under
  `components` (`cmps`); other root keys only the documented shared options: availability
  options (`availability`/`avty`, `availability_mode`/`avty_mode`, ...), `state_topic`
  (`stat_t`), `command_topic` (`cmd_t`), `qos`, `encoding` (`e`);
- device: `identifiers` (`ids`) or `connections` (`cns`) required; keys from the device
  abbreviation list (`ids`, `name`, `mf`, `mdl`, `sw`, `hw`, `sn`, `sa`, `cu`, `cns`);
- origin: `name` required; `sw` (`sw_version`), `url` (`support_url`);
- availability entries: `topic` (`t`) required; `payload_available` (`pl_avail`),
  `payload_not_available` (`pl_not_avail`), `value_template` (`val_tpl`);
- each component: `platform` (`p`) required, `unique_id` (`uniq_id`) required for entities;
  only the documented options of its platform (abbreviations expanded), device classes and
  state classes from the documented lists.
"""

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from cloud_hub.core.config import Settings
from contract import Topics
from edge_agent.agent import Agent, State
from edge_agent.config import AgentConfig, parse_config
from edge_agent.homeassistant import discovery_config
from tests.edge_agent.fakes import FakePipeline
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.contract import assert_follows_contract
from tests.fixtures.mqtt import MqttProbe
from tests.hub.conftest import Hub, running_hub

D = "cam-1"
T = Topics()
HA = "homeassistant"
TOPIC = f"{HA}/device/edgefleet_{D}/config"
TIMEOUT = 15.0
FAKE_TASKS = {"fake-face": "face-detection", "fake-wakeword": "wakeword"}

# "Supported abbreviations" (MQTT page), the subset an edgefleet payload could use.
HA_ABBREVIATIONS = {
    "avty": "availability", "avty_mode": "availability_mode", "avty_t": "availability_topic",
    "avty_tpl": "availability_template", "cmd_t": "command_topic", "dev": "device",
    "dev_cla": "device_class", "e": "encoding", "en": "enabled_by_default",
    "ent_cat": "entity_category", "exp_aft": "expire_after", "frc_upd": "force_update",
    "ic": "icon", "json_attr_t": "json_attributes_topic",
    "json_attr_tpl": "json_attributes_template", "obj_id": "object_id", "off_dly": "off_delay",
    "o": "origin", "p": "platform", "cmps": "components", "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available", "pl_off": "payload_off", "pl_on": "payload_on",
    "stat_cla": "state_class", "stat_t": "state_topic", "t": "topic", "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement", "val_tpl": "value_template",
    "sug_dsp_prc": "suggested_display_precision", "evt_typ": "event_types",
}  # fmt: skip
# "Supported abbreviations for device registry configuration" (+ origin abbreviations)
HA_DEVICE_ABBREVIATIONS = {
    "cu": "configuration_url", "cns": "connections", "ids": "identifiers", "name": "name",
    "mf": "manufacturer", "mdl": "model", "mdl_id": "model_id", "hw": "hw_version",
    "sw": "sw_version", "sa": "suggested_area", "sn": "serial_number",
}  # fmt: skip
HA_ORIGIN_ABBREVIATIONS = {"name": "name", "sw": "sw_version", "url": "support_url"}
HA_SHARED_ROOT = {
    "device", "origin", "components", "availability", "availability_mode",
    "availability_template", "availability_topic", "payload_available",
    "payload_not_available", "command_topic", "state_topic", "qos", "encoding",
}  # fmt: skip
HA_ENTITY_COMMON = {
    "platform", "name", "unique_id", "object_id", "icon", "entity_category",
    "enabled_by_default", "availability", "availability_mode", "json_attributes_topic",
    "json_attributes_template", "qos", "encoding",
}  # fmt: skip
HA_PLATFORM_OPTIONS = {
    "binary_sensor": HA_ENTITY_COMMON | {
        "state_topic", "value_template", "payload_on", "payload_off", "off_delay",
        "device_class", "expire_after", "force_update"},
    "sensor": HA_ENTITY_COMMON | {
        "state_topic", "value_template", "unit_of_measurement", "device_class", "state_class",
        "expire_after", "force_update", "suggested_display_precision"},
    "event": HA_ENTITY_COMMON | {"state_topic", "value_template", "event_types", "device_class"},
    "image": HA_ENTITY_COMMON | {
        "image_topic", "content_type", "image_encoding", "url_topic", "url_template"},
}  # fmt: skip
HA_BINARY_SENSOR_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
    "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy",
    "opening", "plug", "power", "presence", "problem", "running", "safety", "smoke", "sound",
    "tamper", "update", "vibration", "window",
}  # fmt: skip
HA_SENSOR_CLASSES_USED = {"duration": {"d", "h", "min", "s", "ms"}}  # class -> allowed units
HA_STATE_CLASSES = {"measurement", "total", "total_increasing"}
HA_ENTITY_CATEGORIES = {"config", "diagnostic"}
HA_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def _expand(mapping: dict[str, Any], table: dict[str, str]) -> dict[str, Any]:
    return {table.get(k, k): v for k, v in mapping.items()}


def ha_device_discovery_problems(topic: str, payload: dict[str, Any]) -> list[str]:
    """Everything in a device-based discovery message that HA's documentation does not allow."""
    problems: list[str] = []
    parts = topic.split("/")
    if len(parts) != 4 or parts[1] != "device" or parts[3] != "config" or not HA_ID.match(parts[2]):
        problems.append(f"topic {topic!r} is not <prefix>/device/<object_id>/config")
    root = _expand(payload, HA_ABBREVIATIONS)
    problems += [f"root: {k!r} is not a shared option" for k in set(root) - HA_SHARED_ROOT]
    device = _expand(root.get("device") or {}, HA_DEVICE_ABBREVIATIONS)
    if not device.get("identifiers") and not device.get("connections"):
        problems.append("device: identifiers or connections required")
    known_device = set(HA_DEVICE_ABBREVIATIONS.values()) | {"via_device"}
    problems += [f"device: unknown {k!r}" for k in set(device) - known_device]
    origin = _expand(root.get("origin") or {}, HA_ORIGIN_ABBREVIATIONS)
    if not origin.get("name"):
        problems.append("origin: name required")
    problems += [
        f"origin: unknown {k!r}" for k in set(origin) - set(HA_ORIGIN_ABBREVIATIONS.values())
    ]
    for entry in root.get("availability", []):
        entry = _expand(entry, HA_ABBREVIATIONS)
        if not entry.get("topic"):
            problems.append("availability: topic required")
        allowed = {"topic", "payload_available", "payload_not_available", "value_template"}
        problems += [f"availability: unknown {k!r}" for k in set(entry) - allowed]
    components = root.get("components")
    if not isinstance(components, dict) or not components:
        return [*problems, "components: a non-empty mapping required"]
    for cid, raw in components.items():
        c = _expand(raw, HA_ABBREVIATIONS)
        where = f"components.{cid}"
        platform = c.get("platform")
        if platform not in HA_PLATFORM_OPTIONS:
            problems.append(f"{where}: platform {platform!r} not one we validate")
            continue
        if not c.get("unique_id"):
            problems.append(f"{where}: unique_id required")
        problems += [
            f"{where}: unknown option {k!r}" for k in set(c) - HA_PLATFORM_OPTIONS[platform]
        ]
        device_class = c.get("device_class")
        if platform == "binary_sensor" and device_class not in (None, *HA_BINARY_SENSOR_CLASSES):
            problems.append(f"{where}: binary_sensor device_class {device_class!r}")
        if platform == "sensor" and device_class is not None:
            units = HA_SENSOR_CLASSES_USED.get(device_class)
            if units is None or c.get("unit_of_measurement") not in units:
                problems.append(f"{where}: sensor class {device_class!r} with unit "
                                f"{c.get('unit_of_measurement')!r}")  # fmt: skip
        if platform == "event" and not (c.get("event_types") and c.get("state_topic")):
            problems.append(f"{where}: an event needs event_types and a state_topic")
        if c.get("state_class") not in (None, *HA_STATE_CLASSES):
            problems.append(f"{where}: state_class {c['state_class']!r}")
        if c.get("entity_category") not in (None, *HA_ENTITY_CATEGORIES):
            problems.append(f"{where}: entity_category {c['entity_category']!r}")
    return problems


def _template_fields(template: str) -> set[str]:
    return set(re.findall(r"value_json\.([a-z_0-9]+)", template))


# ---------------------------------------------------------------- pure payload checks


def test_payload_follows_home_assistant_documented_schema() -> None:
    config = discovery_config(
        device=D, topics=T, agent_version="1.2.3", kinds=["face", "wakeword", "fault"],
        health_interval_s=5,
    )  # fmt: skip
    assert ha_device_discovery_problems(TOPIC, config) == []
    assert set(config["cmps"]) >= {"face", "wakeword", "fault", "cpu", "mem"}
    ids = [c["uniq_id"] for c in config["cmps"].values()]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(f"edgefleet_{D}_") for i in ids)
    assert config["avty"] == [{"t": T.status(D), "val_tpl": "{{ value_json.state }}",
                               "pl_avail": "online", "pl_not_avail": "offline"}]  # fmt: skip
    # stable: the same inputs give the same payload (HA keys entities on unique_id)
    again = discovery_config(device=D, topics=T, agent_version="1.2.3",
                             kinds=["face", "wakeword", "fault"], health_interval_s=5)  # fmt: skip
    assert again == config


def test_each_camera_is_an_image_entity_of_its_retained_snapshot() -> None:
    config = discovery_config(device=D, topics=T, agent_version="1", kinds=["face"],
                              health_interval_s=5, cameras=["porch", "garage"])  # fmt: skip
    assert ha_device_discovery_problems(TOPIC, config) == []
    images = {k: c for k, c in config["cmps"].items() if c["p"] == "image"}
    assert {c["image_topic"] for c in images.values()} == {
        T.snapshot(D, "porch"),
        T.snapshot(D, "garage"),
    }
    assert all(c["content_type"] == "image/jpeg" for c in images.values())


def test_spoken_commands_are_an_event_entity_with_one_type_per_intent() -> None:
    """Home Assistant's MQTT `event` entity reads `event_type` from the template's JSON: our
    `intent` event's data carries it (contract.event.IntentEventData)."""
    config = discovery_config(device=D, topics=T, agent_version="1", kinds=["wakeword"],
                              health_interval_s=5, intents=["turn_on", "turn_off",
                                                            "not_understood"])  # fmt: skip
    assert ha_device_discovery_problems(TOPIC, config) == []
    intent = config["cmps"]["intent"]
    assert (intent["p"], intent["stat_t"]) == ("event", T.event(D, "intent"))
    assert intent["evt_typ"] == ["turn_on", "turn_off", "not_understood"]
    assert _template_fields(intent["val_tpl"]) == {"data"}
    without = discovery_config(device=D, topics=T, agent_version="1", kinds=["wakeword"],
                               health_interval_s=5)  # fmt: skip
    assert "intent" not in without["cmps"]


def test_validator_can_fail() -> None:
    config = discovery_config(device=D, topics=T, agent_version="1", kinds=["face"],
                              health_interval_s=5)  # fmt: skip
    del config["o"]["name"]
    config["cmps"]["face"]["dev_cla"] = "faces"
    del config["cmps"]["cpu"]["uniq_id"]
    config["cmps"]["mem"]["bogus"] = 1
    config["stat_tpl"] = "x"
    problems = ha_device_discovery_problems(f"{HA}/sensor/x/config", config)
    assert len(problems) == 6, problems


# ---------------------------------------------------------------- end to end


class HaAgent(Agent):
    """A real agent (real MQTT link) with fake pipelines."""

    def _load_pipelines(self) -> Any:
        return {m: [FakePipeline(m)] for m in self.config.models}


def agent_config(broker: BrokerProcess) -> AgentConfig:
    return parse_config({
        "device_id": D, "models": ["fake-face", "fake-wakeword"], "health_interval_s": 0.2,
        "outbox": {"memory": True}, "home_assistant": {"enabled": True},
        "broker": {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.1},
    })  # fmt: skip


@pytest.fixture
async def hub(make_settings: Callable[..., Settings], broker: BrokerProcess) -> AsyncIterator[Hub]:
    settings = make_settings(
        mqtt_enabled=True, mqtt_port=broker.port, mqtt_username=None, ingest_flush_s=0.02
    )
    async for h in running_hub(settings):
        await asyncio.wait_for(h.app.state.bridge.connected.wait(), TIMEOUT)
        yield h


def retained_configs(broker: BrokerProcess) -> list[Any]:
    """What a Home Assistant starting now would find: retained configs under `<ha>/device/`,
    read up to a marker published after subscribing (retained ones are delivered first)."""
    probe = MqttProbe(broker.host, broker.port).connect()
    try:
        probe.subscribe(f"{HA}/device/+/config")
        probe.publish(f"{HA}/device/zz-marker/config", b"marker")
        probe.wait_for(f"{HA}/device/zz-marker/config")
        return [m for m in probe.messages if m.retain and m.topic == TOPIC]
    finally:
        probe.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_entities_appear_reannounce_on_ha_birth_and_disappear_on_delete(
    hub: Hub, broker: BrokerProcess
) -> None:
    await hub.enroll(D)
    ha = MqttProbe(broker.host, broker.port, client_id="home-assistant").connect()
    try:
        ha.subscribe(f"{HA}/device/+/config", f"{T.prefix}/{D}/#")
        agent = HaAgent(agent_config(broker))
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.wait_state(State.RUNNING), TIMEOUT)

        # appear: the discovery config arrives, valid, retained for a later HA
        first = await asyncio.to_thread(ha.wait_for, TOPIC, TIMEOUT)
        config = first.json()
        assert ha_device_discovery_problems(first.topic, config) == []
        assert {k for k, c in config["cmps"].items() if c["p"] == "binary_sensor"} == {
            "face",
            "wakeword",
        }  # fmt: skip  (the agent's models: a face and a wake-word model)
        retained = await asyncio.to_thread(retained_configs, broker)
        assert retained
        assert retained[-1].json() == config

        # the entities' topics carry what their templates read
        agent._on_message(_inbound(T.infer(D, "fake-face", "r1"), b"face"))
        event = await asyncio.to_thread(ha.wait_for, T.event(D, "face"), TIMEOUT)
        assert config["cmps"]["face"]["stat_t"] == event.topic
        assert "data" in event.json()
        health = await asyncio.to_thread(ha.wait_for, T.health(D), TIMEOUT)
        for key, component in config["cmps"].items():
            if component["p"] == "sensor":
                assert component["stat_t"] == health.topic
                assert _template_fields(component["val_tpl"]) <= set(health.json()), key
        status = (await asyncio.to_thread(ha.wait_for, T.status(D), TIMEOUT)).json()
        assert status["state"] == config["avty"][0]["pl_avail"]  # `{{ value_json.state }}`

        # HA restarts: its birth makes the agent announce again
        before = len([m for m in ha.messages if m.topic == TOPIC])
        await asyncio.to_thread(ha.publish, f"{HA}/status", b"online")
        await asyncio.to_thread(ha.wait_for_count, TOPIC, before + 1, TIMEOUT)
        await asyncio.to_thread(ha.publish, f"{HA}/status", b"offline")  # no announcement

        # every message on our own topics still follows the contract
        assert_follows_contract(ha.messages, tasks=FAKE_TASKS)

        agent.stop()
        await asyncio.wait_for(task, TIMEOUT)

        # disappear: deleting the device clears the retained config
        r = await hub.client.delete(f"/api/v1/devices/{D}", headers=hub.admin)
        assert r.status_code == 204, r.text
        cleared = await asyncio.to_thread(
            ha.wait_for, lambda m: m.topic == TOPIC and m.payload == b"", TIMEOUT
        )
        assert cleared.payload == b""
        assert await asyncio.to_thread(retained_configs, broker) == []
        announcements = [m for m in ha.messages if m.topic == TOPIC and m.payload]
        assert len(announcements) == before + 1  # the `offline` birth announced nothing
    finally:
        ha.close()


def _inbound(topic: str, payload: bytes) -> Any:
    import time

    from edge_agent.messages import Inbound

    return Inbound(topic, payload, time.perf_counter())


def test_agent_config_home_assistant_section() -> None:
    ha = {"enabled": True, "discovery_prefix": "ha/"}
    config = parse_config({"device_id": D, "models": ["m"], "home_assistant": ha})
    assert config.home_assistant.discovery_prefix == "ha"
    with pytest.raises(Exception, match="discovery_prefix"):
        parse_config({"device_id": D, "models": ["m"],
                      "home_assistant": {"discovery_prefix": "ha/#"}})  # fmt: skip
    assert json.loads(json.dumps(discovery_config(
        device=D, topics=T, agent_version="1", kinds=[], health_interval_s=1)))["cmps"]  # fmt: skip
