"""The embedded MQTT broker (amqtt) and, in `broker.contract`, the MQTT topic contract v1.

Kept free of imports: a device imports `broker.contract` without amqtt installed. The broker
itself is `broker.server.running_broker()`, configured by `broker.settings.BrokerSettings`.
"""
