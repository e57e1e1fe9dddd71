"""Home Assistant: clear a deleted device's discovery config (docs/home-assistant.md).

Agents announce themselves with a retained device-based discovery config at
`<ha>/device/edgefleet_<d>/config` (edge_agent/homeassistant.py). When the hub deletes a
device it publishes an empty retained payload there: Home Assistant removes the device and
its entities, and the broker drops the retained config so it is not announced again.
"""

import logging

import anyio.from_thread
from fastapi import FastAPI

from cloud_hub.core.config import Settings
from cloud_hub.integrations.mqtt import publish
from contract.homeassistant import ha_discovery_topic

log = logging.getLogger(__name__)


def discovery_topic(settings: Settings, device_id: str) -> str | None:
    prefix = settings.ha_discovery_prefix
    return ha_discovery_topic(prefix, device_id) if prefix else None


async def clear_discovery(app: FastAPI, device_id: str) -> bool:
    """Publish the empty retained config; False without a Home Assistant prefix or session."""
    settings: Settings = app.state.settings
    topic = discovery_topic(settings, device_id)
    if topic is None:
        return False
    sent = await publish(app, topic, b"", retain=True)
    if not sent:
        log.warning(
            "could not clear the Home Assistant discovery of %s (no MQTT session)", device_id
        )
    return sent


def device_deleted(app: FastAPI, device_id: str) -> bool:
    """From a route's worker thread, after the device is gone from the registry."""
    return anyio.from_thread.run(clear_discovery, app, device_id)
