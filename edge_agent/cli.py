"""`edgefleet agent --config FILE`: run an edge agent (or only check its configuration)."""

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from edge_agent import launcher
from edge_agent.config import AgentConfig, check_models, load_config
from edge_agent.errors import AgentError, ConfigError
from edge_agent.logring import FORMAT, ring

app = typer.Typer(add_completion=False, help="Run an edge agent on a device.")


async def _serve(config: AgentConfig) -> int:
    """Run the agent until it stops; its exit code (edge_agent.launcher: the launcher's)."""
    from edge_agent.agent import Agent

    agent = Agent(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stop)
    await agent.run()
    return agent.exit_code


def _enroll_if_needed(config: Path) -> None:
    """First start of a flashed device: `hub.url` + `hub.enrollment_token`, no credentials yet:
    enroll, then the file holds the credentials and no token (edge_agent.provision)."""
    from edge_agent.provision import ProvisionError, enroll_config_file, needs_enrollment, read_yaml

    try:
        if not needs_enrollment(read_yaml(config)):
            return
        result = enroll_config_file(config)
    except ProvisionError as exc:
        typer.echo(f"edgefleet agent: enrollment failed: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"edgefleet agent: cannot rewrite {config} after enrolling: {exc}", err=True)
        raise typer.Exit(1) from None
    logging.getLogger("edge_agent").info(
        "enrolled as %s at %s; %s rewritten without the token",
        result.device_id,
        result.hub_url,
        config,
    )


@app.command()
def main(
    config: Annotated[Path, typer.Option("--config", "-c", help="Agent YAML configuration file")],
    validate_config: Annotated[
        bool, typer.Option("--validate-config", help="Check the configuration and exit")
    ] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Load the models named in the config, connect to the broker and serve inference."""
    logging.basicConfig(
        level=log_level.upper(),
        stream=sys.stderr,
        format=FORMAT,
    )
    ring()  # the last lines, for the `logs` command
    if not validate_config:
        _enroll_if_needed(config)
    try:
        cfg = load_config(config)
        check_models(cfg, str(config))  # an unknown model id: before anything starts
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(launcher.CONFIG_EXIT) from None
    if validate_config:
        typer.echo(
            f"{config}: OK (device {cfg.device_id}, models {', '.join(cfg.models)}, "
            f"broker {cfg.broker.host}:{cfg.broker.port})"
        )
        return
    try:
        code = asyncio.run(_serve(cfg))
        # Stopped cleanly. Closing the loop restored the default SIGTERM action; a second
        # SIGTERM (a supervisor that repeats itself) must not turn the exit code into -15.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
    except AgentError as exc:
        typer.echo(f"edgefleet agent: {exc}", err=True)
        raise typer.Exit(1) from None
    if code:
        raise typer.Exit(code)  # 75: the launcher starts the agent again (restart, update)
