"""Process control for the demo, the benchmarks and end-to-end tests.

Spawn a broker, the hub or an agent as a child process on loopback, wait until it is
listening or ready, stop it; plus a busy device (CPU stress) and a slow network (delay
proxy). Each module is one kind of process; this package re-exports their public names.
"""

from edgefleet.procs.agent import (
    AgentProcess,
    agent_command,
    agent_config,
    spawn_agent,
    write_agent_config,
    write_config,
)
from edgefleet.procs.broker import BROKERS, broker_kind, broker_process, mosquitto_path
from edgefleet.procs.delay import DelayProxy
from edgefleet.procs.hub import ADMIN_KEY, HubProcess, hub_command
from edgefleet.procs.postgres import postgres
from edgefleet.procs.process import (
    edgefleet_command,
    iter_children,
    pin,
    spawn,
    stop_process,
    tail,
    tail_chars,
)
from edgefleet.procs.stress import cpu_stress
from edgefleet.procs.wait import ExitedEarly, NotReady, StartError, http_ok, port_open, wait_until

__all__ = [
    "ADMIN_KEY",
    "BROKERS",
    "AgentProcess",
    "DelayProxy",
    "ExitedEarly",
    "HubProcess",
    "NotReady",
    "StartError",
    "agent_command",
    "agent_config",
    "broker_kind",
    "broker_process",
    "cpu_stress",
    "edgefleet_command",
    "http_ok",
    "hub_command",
    "iter_children",
    "mosquitto_path",
    "pin",
    "port_open",
    "postgres",
    "spawn",
    "spawn_agent",
    "stop_process",
    "tail",
    "tail_chars",
    "wait_until",
    "write_agent_config",
    "write_config",
]
