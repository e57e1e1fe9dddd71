"""MQTT client plumbing shared by the agent and the hub (aiomqtt + tenacity, nothing else).

Import the submodule you need: `mqttio.reconnect` (the one reconnect policy).
"""
