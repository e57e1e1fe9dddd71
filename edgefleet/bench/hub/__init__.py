"""`edgefleet bench hub`: MQTT health ingest into SQL, and fleet API latency at 10,000 devices.

Ingest: simulated devices (a separate process, paho, QoS 0) publish heartbeats through a real
broker (Mosquitto and/or the embedded amqtt) to a real hub (uvicorn, its MQTT bridge and SQL
writer), into SQLite and/or a throwaway PostgreSQL 15 cluster; the rate is rows committed per
second from the first to the last message. A broker-less row measures the writer alone.
Fleet API: 10,000 registered devices, sequential HTTP requests over loopback; p50/p99 per call.

Modules: `config`; `services` (database, in-thread hub) and `seeding`; measurement in `ingest`
and `fleet_api`; the targets in `checks`; tables and plots in `report`; `run`.
"""

from edgefleet.bench.hub.config import HubBenchConfig
from edgefleet.bench.hub.run import main, run_hub_bench
from edgefleet.bench.hub.seeding import seed

__all__ = ["HubBenchConfig", "main", "run_hub_bench", "seed"]
