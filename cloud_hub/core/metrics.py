"""Prometheus metrics of one hub instance, in its own registry (tests run several hubs)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class HubMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "edgefleet_hub_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "edgefleet_hub_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_LATENCY,
            registry=r,
        )
        self.ingested = Counter(
            "edgefleet_hub_ingest_messages", "MQTT messages written to SQL", ["kind"], registry=r
        )
        self.rejected = Counter(
            "edgefleet_hub_ingest_rejected",
            "MQTT messages dropped by the bridge",
            ["kind", "reason"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "edgefleet_hub_ingest_batch_seconds",
            "time to write one ingest batch",
            buckets=_LATENCY,
            registry=r,
        )
        self.batch_size = Histogram(
            "edgefleet_hub_ingest_batch_size",
            "messages per batch",
            buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000),
            registry=r,
        )
        self.queue_depth = Gauge(
            "edgefleet_hub_ingest_queue_depth", "messages waiting for the SQL writer", registry=r
        )
        self.held = Gauge(
            "edgefleet_hub_ingest_held",
            "messages held back until their device's earlier ones arrive",
            registry=r,
        )
        self.devices = Gauge(
            "edgefleet_hub_devices", "registered devices by health state", ["state"], registry=r
        )
        self.transitions = Counter(
            "edgefleet_hub_device_transitions", "health state changes", ["to_state"], registry=r
        )
        self.mqtt_connected = Gauge(
            "edgefleet_hub_mqtt_connected", "1 while the bridge is connected", registry=r
        )
        self.mqtt_connections = Gauge(
            "edgefleet_hub_mqtt_connections",
            "MQTT connections this hub process holds open (all its "
            "MQTT traffic shares one: 0 or 1)",
            registry=r,
        )
        self.mqtt_connects = Counter(
            "edgefleet_hub_mqtt_connects",
            "MQTT connections opened (reconnects included)",
            registry=r,
        )
        self.mqtt_client = Info(
            "edgefleet_hub_mqtt_client", "the client id of the hub's MQTT connection", registry=r
        )
        self.mqtt_outbox = Gauge(
            "edgefleet_hub_mqtt_outbox",
            "commands queued until the MQTT session is back",
            registry=r,
        )
        self.command_replies = Counter(
            "edgefleet_hub_command_replies",
            "command replies received, by whether a caller waited",
            ["waited"],
            registry=r,
        )
        self.acks = Counter(
            "edgefleet_hub_acks", "{d}/ack messages published to devices", registry=r
        )
        self.leader = Gauge(
            "edgefleet_hub_leader",
            "1 while this replica runs the singleton jobs (round deadlines, canary watch)",
            registry=r,
        )
        self.unsent = Counter(
            "edgefleet_hub_mqtt_unsent",
            "fire-and-forget publishes (acks) the client failed to send; devices re-send",
            registry=r,
        )
        # Fleet-wide, no device label: series are bounded by where x reason whatever the
        # fleet size; a device's own figures are its `last_health.counters` (registry API).
        self.offload_decisions = Counter(
            "edgefleet_hub_offload_decisions",
            "offload decisions of the fleet by where and reason (growth of the agents' "
            "offload.{where}.{reason} heartbeat counters)",
            ["where", "reason"],
            registry=r,
        )
        self.infer_latency = Histogram(
            "edgefleet_hub_inference_seconds",
            "cloud inference latency (queue + compute)",
            ["model"],
            buckets=_LATENCY,
            registry=r,
        )
        self.infer_batch = Histogram(
            "edgefleet_hub_inference_batch_size",
            "requests taken together by a model's worker (each still runs on its own)",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32),
            registry=r,
        )
        self.infer_requests = Counter(
            "edgefleet_hub_inference_requests",
            "cloud inference requests",
            ["model", "outcome"],
            registry=r,
        )
