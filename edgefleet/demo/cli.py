"""`edgefleet demo`: the command line of the demo."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from edgefleet.demo.fleet import DEFAULT_WORKDIR, DemoError, DemoOptions, say

app = typer.Typer(add_completion=False, help="Run broker and simulated devices on this machine.")


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Broker TCP port (0: any free port)")] = 1883,
    host: Annotated[str, typer.Option(help="Broker address (loopback only)")] = "127.0.0.1",
    duration: Annotated[
        float, typer.Option(help="Stop after this many seconds (0: until Ctrl-C/SIGTERM)")
    ] = 0.0,
    interval: Annotated[
        float, typer.Option(help="Seconds per camera round (3 frames); microphone: 2x")
    ] = 1.0,
    workdir: Annotated[
        Path, typer.Option(help="Where agent configs and logs are written")
    ] = DEFAULT_WORKDIR,
    quiet: Annotated[bool, typer.Option("--quiet", help="Do not print each result")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the simulated sensor data")] = 0,
    hub_port: Annotated[
        int, typer.Option(help="Hub and dashboard HTTP port (0: any free port)")
    ] = 8000,
) -> None:
    """Run the embedded broker, the hub, three agents and simulated sensors until Ctrl-C."""
    if host not in {"127.0.0.1", "::1", "localhost"}:
        typer.echo("edgefleet demo: binds loopback only (127.0.0.1 or ::1)", err=True)
        raise typer.Exit(2)
    if interval <= 0:
        typer.echo("edgefleet demo: --interval must be > 0", err=True)
        raise typer.Exit(2)
    opts = DemoOptions(
        host=host,
        port=port,
        duration_s=duration,
        interval_s=interval,
        workdir=workdir,
        quiet=quiet,
        seed=seed,
        hub_port=hub_port,
    )
    from broker.server import BrokerStartError
    from edge_agent.provision import ProvisionError
    from edgefleet.demo.run import run_demo

    try:
        code = asyncio.run(run_demo(opts))
    except (BrokerStartError, DemoError, ProvisionError) as exc:
        typer.echo(f"edgefleet demo: {exc}", err=True)
        raise typer.Exit(1) from None
    say("edgefleet demo: stopped")
    raise typer.Exit(code)
