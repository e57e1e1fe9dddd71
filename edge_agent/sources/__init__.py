"""Sensors the agent reads itself (docs/agent.md): cameras today. Each source feeds a model
exactly as an MQTT request does, through the dispatcher, and reports itself in `health`."""
