"""The embedded MQTT broker (amqtt) and, in `contract`, the MQTT topic contract v1.

Kept free of imports: a device imports `contract` without amqtt installed. The broker
itself is `broker.server.running_broker()`, configured by `broker.settings.BrokerSettings`.
"""
