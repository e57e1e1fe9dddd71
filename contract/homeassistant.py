"""Home Assistant MQTT discovery topics, outside the contract prefix (docs/home-assistant.md).

A device announces itself with one retained device-based discovery config and listens to
Home Assistant's birth; the hub clears a deleted device's config; the broker grants exactly
these topics. All three build them here.
"""

DEFAULT_HA_PREFIX = "homeassistant"
HA_NODE_PREFIX = "edgefleet_"
"""A device's Home Assistant node id is `edgefleet_<device id>` (HA allows `[a-zA-Z0-9_-]`)."""


def ha_node_id(device: str) -> str:
    return f"{HA_NODE_PREFIX}{device}"


def ha_discovery_topic(ha_prefix: str, device: str) -> str:
    """The device-based discovery topic of one device: `<ha>/device/edgefleet_<d>/config`."""
    return f"{ha_prefix.rstrip('/')}/device/{ha_node_id(device)}/config"


def ha_discovery_filter(ha_prefix: str) -> str:
    """Every device's discovery topic: `<ha>/device/+/config` (the hub's right)."""
    return f"{ha_prefix.rstrip('/')}/device/+/config"


def ha_status_topic(ha_prefix: str) -> str:
    """Home Assistant's birth/last-will topic (`online` / `offline`)."""
    return f"{ha_prefix.rstrip('/')}/status"
