"""The `edgefleet` console script: one subcommand per service, each imported only when used.

Every subcommand module exposes a Typer `app`. Importing lazily keeps `edgefleet agent` from
paying for FastAPI or matplotlib at start-up (the agent's cold start target is < 1.5 s).
"""

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("edgefleet.demo", "Run broker, hub and simulated devices on this machine"),
    "broker": ("broker.cli", "Run the embedded MQTT broker (amqtt)"),
    "hub": ("cloud_hub.cli", "Run the cloud hub (API, registry, dashboard)"),
    "agent": ("edge_agent.cli", "Run an edge agent on a device"),
    "provision": ("edge_agent.provision_cli", "Enroll a device at a hub and write its config"),
    "bundle": ("deploy.bundle.cli", "Build an offline-installable agent bundle for a device"),
    "flash": ("deploy.flash.cli", "Write first-boot set-up into a Raspberry Pi OS image"),
    "proxy": ("deploy.proxy.cli", "Print the nginx configuration in front of hub replicas"),
    "models": ("models.cli", "Fetch, verify and list catalogue models"),
    "contract": ("contract.cli", "Export the MQTT contract (JSON Schemas, AsyncAPI)"),
    "bench": ("edgefleet.bench.cli", "Benchmarks: print a table, write JSON, draw PNG plots"),
    "fl": ("edgefleet.fl_cli", "Federated learning rounds: start, status, history"),
}


def _usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {text}" for name, (_, text) in SUBCOMMANDS.items())
    return f"usage: edgefleet COMMAND [ARGS]...\n\ncommands:\n{rows}\n\nedgefleet COMMAND --help"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        raise SystemExit(0 if args else 2)
    if args[0] in {"--version", "version"}:
        from edgefleet import __version__

        print(f"edgefleet {__version__}")
        raise SystemExit(0)
    entry = SUBCOMMANDS.get(args[0])
    if entry is None:
        print(f"edgefleet: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        raise SystemExit(2)
    module = importlib.import_module(entry[0])
    module.app(args=args[1:], prog_name=f"edgefleet {args[0]}")
