"""Hub-side integrations that react to registry changes: MQTT publishing through the bridge,
twin conflict recording at ingest, Home Assistant discovery removal, Mosquitto dynsec."""
