"""`edgefleet hub`: run the hub (default), or manage it: migrate, create-key, openapi, reference."""

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from cloud_hub.core.config import Settings

KEEP_ALIVE_S = 75
"""How long an idle device connection stays open (uvicorn's default is 5 s; nginx's is 75 s):
an agent whose hub is idle probes it every 16 s (docs/offload.md), and a connection kept open
spares the next offload a TCP (and TLS) handshake."""

app = typer.Typer(
    help="The cloud hub: API, registry, MQTT ingest, cloud inference.", add_completion=False
)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        typer.echo(f"invalid hub settings:\n{exc}", err=True)
        raise typer.Exit(2) from exc


@app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="bind address (EDGEFLEET_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (EDGEFLEET_PORT)")] = None,
    validate_config: Annotated[
        bool, typer.Option("--validate-config", help="check the settings and exit")
    ] = False,
) -> None:
    """Run the hub with uvicorn (settings from EDGEFLEET_* variables)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    if validate_config:
        typer.echo(settings.model_dump_json(indent=2, exclude={"admin_api_key", "mqtt_password"}))
        return
    import uvicorn

    from cloud_hub.core.logging import configure_logging
    from cloud_hub.main import create_app

    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


@app.command()
def migrate() -> None:
    """Apply database migrations and exit."""
    from cloud_hub.core.db import make_engine, upgrade

    engine = make_engine(_settings())
    upgrade(engine)
    engine.dispose()


@app.command("create-key")
def create_key(
    name: Annotated[str, typer.Option()] = "cli",
    role: Annotated[str, typer.Option(help="admin or viewer")] = "viewer",
) -> None:
    """Create an API key in the database and print it (once)."""
    from cloud_hub.core.clock import utcnow
    from cloud_hub.core.db import Database, make_engine, upgrade
    from cloud_hub.crud.keys import create_key as crud_create
    from cloud_hub.schemas.keys import ApiKeyCreate

    engine = make_engine(_settings())
    upgrade(engine)
    try:
        data = ApiKeyCreate(name=name, role=role)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    with Database(engine).session(write=True) as s:
        _, key = crud_create(s, data=data, now=utcnow())
    engine.dispose()
    typer.echo(key)


@app.command()
def openapi() -> None:
    """Print the OpenAPI document."""
    from cloud_hub.main import create_app

    typer.echo(json.dumps(create_app(Settings(mqtt_enabled=False)).openapi(), indent=2))


@app.command()
def reference(
    out: Annotated[Path, typer.Option(help="The Markdown file")] = Path("docs/hub-reference.md"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the file is out of date")
    ] = False,
) -> None:
    """Write the settings and metrics reference (every `EDGEFLEET_*` setting, every metric)."""
    from cloud_hub import reference as doc

    if check:
        if not doc.is_up_to_date(out):
            typer.echo(f"{out}: out of date; run `edgefleet hub reference`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out}: up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc.generate(), encoding="utf-8")
    typer.echo(f"wrote {out}")
