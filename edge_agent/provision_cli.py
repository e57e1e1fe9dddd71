"""`edgefleet provision --hub URL --token T`: the command line of edge_agent.provision.

Apart from the library so that the agent, which enrolls itself on a flashed device's first
boot, does not import Typer at every start (docs/benchmarks.md, cold start)."""

from pathlib import Path
from typing import Annotated

import typer

from edge_agent.provision import (
    DEFAULT_CONFIG,
    DEFAULT_MODELS,
    ProvisionError,
    check_hub_url,
    check_token,
    default_device_id,
    enroll,
    hardware,
    merge_enrollment,
    read_yaml,
    render_config,
    write_secret_file,
)

app = typer.Typer(add_completion=False, help="Enroll a device at a hub and write its config.")


@app.command()
def provision(
    hub: Annotated[str, typer.Option("--hub", help="Hub base URL, e.g. http://hub:8000")],
    token: Annotated[
        str,
        typer.Option(
            "--token",
            help="One-time enrollment token (eft_...)",
            envvar="EDGEFLEET_ENROLLMENT_TOKEN",
        ),
    ],
    device_id: Annotated[
        str | None,
        typer.Option("--device-id", help="Device id (default: host name if valid, else hub picks)"),
    ] = None,
    config_out: Annotated[
        Path, typer.Option("--config-out", help="Agent config to write (existing keys are kept)")
    ] = DEFAULT_CONFIG,
    name: Annotated[str | None, typer.Option("--name", help="Human-readable device name")] = None,
    models: Annotated[
        list[str] | None,
        typer.Option("--models", help="Model ids to run (repeatable); default: keep the file's"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Enroll again although the config has credentials")
    ] = False,
) -> None:
    """Exchange an enrollment token for device credentials and write the agent config."""
    try:
        check_hub_url(hub)
        check_token(token)
        existing = read_yaml(config_out)
        broker = existing.get("broker") or {}
        if isinstance(broker, dict) and broker.get("password") and not force:
            raise ProvisionError(
                f"{config_out} already holds device credentials (device "
                f"{existing.get('device_id')!r}); pass --force to enroll again"
            )
        if models:
            existing["models"] = list(models)
        chosen = existing.get("models") or list(DEFAULT_MODELS)
        result = enroll(
            hub,
            token,
            device_id=device_id or existing.get("device_id") or default_device_id(),
            name=name,
            models=[str(m) for m in chosen],
            hardware=hardware(),
        )
        write_secret_file(config_out, render_config(merge_enrollment(existing, result)))
    except ProvisionError as exc:
        typer.echo(f"edgefleet provision: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"edgefleet provision: cannot write {config_out}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"enrolled as {result.device_id} at {result.hub_url}; broker "
        f"{result.mqtt.host}:{result.mqtt.port}; config written to {config_out} (mode 0600)"
    )
