"""`edgefleet demo`: a small fleet on this machine - broker, three agents, simulated sensors.

What runs (all on loopback):

- the embedded amqtt broker (`broker.server.running_broker`) in this process, anonymous
  loopback clients allowed so `mosquitto_sub -t 'edgefleet/v1/#' -v` works out of the box;
- three agents, each a separate `edgefleet agent --config FILE` process with a generated
  config: `door-cam` (face-detect-lite, plus the third-party sensor topic
  `sensors/door-cam/jpeg`), `hall-cam` (face-detect-lite) and `kitchen-mic` (wakeword-lite);
- a simulated camera publishing composited face frames (`models.datasets.faces`) to the
  cameras' infer topics with a request id, and to the door camera's sensor topic;
- a simulated microphone publishing espeak-ng wake phrases and other speech
  (`models.datasets.speech`) to the kitchen microphone's infer topic.

It runs until Ctrl-C / SIGTERM (or `--duration`), then stops the simulators, SIGTERMs the
agents (each publishes its retained `offline` status), waits for them and stops the broker.
Agents run in their own session (a terminal's Ctrl-C reaches only the demo, which shuts down
in order) and get SIGTERM from the kernel if the demo dies (PR_SET_PDEATHSIG): no orphans.

Before the agents, it starts the hub (`edgefleet hub` as a process: SQLite in the workdir,
its MQTT bridge on the embedded broker, `http://127.0.0.1:8000/` by default), creates an
enrollment token with the hub's admin key and provisions each agent through the hub's real
enroll route (edge_agent.provision), so the agents connect with their own
credentials and the hub reports them online. The banner prints the dashboard URL and the admin
key to sign in with.

Modules: `fleet` (devices, options, state), `hub`, `sensors`, `watch`, `banner`, `run` and
`cli`; processes are started and stopped with `edgefleet.procs`, like the benchmarks do.
"""

from edgefleet.demo.cli import app
from edgefleet.demo.fleet import DEVICES, READY_LINE, DemoDevice, DemoOptions

__all__ = ["DEVICES", "READY_LINE", "DemoDevice", "DemoOptions", "app"]
