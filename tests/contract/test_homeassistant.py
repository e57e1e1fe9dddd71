"""contract/homeassistant.py: the discovery topics agent, hub and broker share."""

from paho.mqtt.client import topic_matches_sub

from broker.acl import Account, AccountKind, rights_for
from contract.homeassistant import (
    DEFAULT_HA_PREFIX,
    ha_discovery_filter,
    ha_discovery_topic,
    ha_node_id,
    ha_status_topic,
)


def test_topics() -> None:
    assert ha_node_id("cam-1") == "edgefleet_cam-1"
    assert ha_discovery_topic("ha/", "cam-1") == "ha/device/edgefleet_cam-1/config"
    assert ha_status_topic("ha") == "ha/status"
    assert ha_discovery_filter("ha/") == "ha/device/+/config"


def test_the_hubs_filter_covers_every_devices_topic_and_nothing_else() -> None:
    every = ha_discovery_filter(DEFAULT_HA_PREFIX)
    assert topic_matches_sub(every, ha_discovery_topic(DEFAULT_HA_PREFIX, "cam-1"))
    assert not topic_matches_sub(every, ha_status_topic(DEFAULT_HA_PREFIX))


def test_the_broker_grants_exactly_these_topics() -> None:
    device = rights_for(Account(AccountKind.DEVICE, "cam-1"), ha_prefix="ha")
    assert ha_discovery_topic("ha", "cam-1") in device.publish
    assert ha_status_topic("ha") in device.read
    hub = rights_for(Account(AccountKind.HUB, "hub"), ha_prefix="ha")
    assert ha_discovery_filter("ha") in hub.publish
