"""`edgefleet agent --config FILE`: run an edge agent (or only check its configuration).

The one command a device runs at every boot, so its command line is the standard library's
argparse rather than Typer, which the other `edgefleet` commands use: Typer is ~25 modules and
~13 ms of the agent's cold start (docs/benchmarks.md). Exit codes: 0 stopped, 1 failed,
2 usage or configuration error (launcher.CONFIG_EXIT), 75 restart (edge_agent.launcher).
"""

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from edge_agent import launcher
from edge_agent.config import AgentConfig, check_models, load_config
from edge_agent.errors import AgentError, ConfigError
from edge_agent.logring import FORMAT, ring

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


async def _serve(config: AgentConfig) -> int:
    """Run the agent until it stops; its exit code (edge_agent.launcher: the launcher's)."""
    from edge_agent.agent import Agent

    agent = Agent(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stop)
    await agent.run()
    return agent.exit_code


def _fail(message: str, code: int) -> SystemExit:
    print(message, file=sys.stderr)
    return SystemExit(code)


def _enroll_if_needed(config: Path) -> None:
    """First start of a flashed device: `hub.url` + `hub.enrollment_token`, no credentials yet:
    enroll, then the file holds the credentials and no token (edge_agent.provision)."""
    from edge_agent.provision import ProvisionError, enroll_config_file, needs_enrollment, read_yaml

    try:
        if not needs_enrollment(read_yaml(config)):
            return
        result = enroll_config_file(config)
    except ProvisionError as exc:
        raise _fail(f"edgefleet agent: enrollment failed: {exc}", 1) from None
    except OSError as exc:
        raise _fail(f"edgefleet agent: cannot rewrite {config} after enrolling: {exc}", 1) from None
    logging.getLogger("edge_agent").info(
        "enrolled as %s at %s; %s rewritten without the token",
        result.device_id,
        result.hub_url,
        config,
    )


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Load the models named in the config, connect to the broker and serve "
        "inference.",
    )
    parser.add_argument(
        "--config", "-c", type=Path, required=True, help="Agent YAML configuration file"
    )
    parser.add_argument(
        "--validate-config", action="store_true", help="Check the configuration and exit"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=LOG_LEVELS,
        help="DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO)",
    )
    return parser


def app(args: Sequence[str] | None = None, prog_name: str = "edgefleet agent") -> None:
    """Run the command; always ends in SystemExit with the exit code (as a Typer app does)."""
    options = _parser(prog_name).parse_args(args)
    config: Path = options.config
    logging.basicConfig(level=options.log_level, stream=sys.stderr, format=FORMAT)
    ring()  # the last lines, for the `logs` command
    if not options.validate_config:
        _enroll_if_needed(config)
    try:
        cfg = load_config(config)
        check_models(cfg, str(config))  # an unknown model id: before anything starts
    except ConfigError as exc:
        raise _fail(str(exc), launcher.CONFIG_EXIT) from None
    if options.validate_config:
        print(
            f"{config}: OK (device {cfg.device_id}, models {', '.join(cfg.models)}, "
            f"broker {cfg.broker.host}:{cfg.broker.port})"
        )
        raise SystemExit(0)
    try:
        code = asyncio.run(_serve(cfg))
        # Stopped cleanly. Closing the loop restored the default SIGTERM action; a second
        # SIGTERM (a supervisor that repeats itself) must not turn the exit code into -15.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
    except AgentError as exc:
        raise _fail(f"edgefleet agent: {exc}", 1) from None
    raise SystemExit(code)  # 75: the launcher starts the agent again (restart, update)
