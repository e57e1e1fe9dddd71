"""MQTT -> SQL ingest: the bridge (asyncio, MQTT) hands messages to one writer thread."""
