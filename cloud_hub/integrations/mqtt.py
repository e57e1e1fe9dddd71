"""Publishing from API routes through the bridge's MQTT session."""

import logging

from fastapi import FastAPI

from cloud_hub.ingest.bridge import MqttBridge

log = logging.getLogger(__name__)


async def publish(app: FastAPI, topic: str, payload: bytes, *, retain: bool = False) -> bool:
    """QoS 1 through the bridge; False when there is no bridge or no session right now."""
    bridge: MqttBridge | None = app.state.bridge
    if bridge is None:
        return False
    return await bridge.publish(topic, payload, qos=1, retain=retain)
