"""edgefleet cloud hub: device registry, health, MQTT ingest and cloud inference (FastAPI)."""
