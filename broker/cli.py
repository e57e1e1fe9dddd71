"""`edgefleet broker`: run the embedded MQTT broker until SIGINT/SIGTERM."""

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from broker.server import BrokerStartError, running_broker
from broker.settings import BrokerConfigError, BrokerSettings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=False)


@app.command()
def broker(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on", show_default="127.0.0.1")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port; 0 picks a free one", show_default="1883")
    ] = None,
    allow_anonymous: Annotated[
        bool | None,
        typer.Option(
            "--allow-anonymous/--no-allow-anonymous",
            help="Accept clients without a username",
            show_default="no-allow-anonymous",
        ),
    ] = None,
    credentials_file: Annotated[
        Path | None,
        typer.Option(help="YAML/JSON accounts file; enables per-account auth and topic ACLs"),
    ] = None,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="Let anonymous clients use the public topics only (status, infer, result, ...)",
            show_default="no-demo",
        ),
    ] = None,
    validate_config: Annotated[
        bool, typer.Option("--validate-config", help="Check the settings, print them and exit")
    ] = False,
) -> None:
    """Run the embedded MQTT broker (amqtt, MQTT 3.1.1) until Ctrl-C or SIGTERM.

    Every option can also be set as EDGEFLEET_BROKER_<NAME>, plus EDGEFLEET_BROKER_PERSISTENCE,
    EDGEFLEET_BROKER_DATA_DIR, EDGEFLEET_BROKER_MAX_PAYLOAD_BYTES, EDGEFLEET_BROKER_HUB_URL,
    EDGEFLEET_BROKER_HUB_SERVICE_KEY and EDGEFLEET_BROKER_AUTH_CACHE_TTL_S; see docs/broker.md.
    """
    try:
        settings = load_settings(
            host=host,
            port=port,
            allow_anonymous=allow_anonymous,
            credentials_file=credentials_file,
            demo=demo,
        )
    except BrokerConfigError as exc:
        typer.echo(f"edgefleet broker: {exc}", err=True)
        raise typer.Exit(2) from None
    if validate_config:
        typer.echo(f"config ok: {settings.model_dump_json()}")
        return
    _configure_logging()
    try:
        asyncio.run(_serve(settings))
    except BrokerStartError as exc:
        typer.echo(f"edgefleet broker: {exc}", err=True)
        raise typer.Exit(1) from None


def _configure_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # amqtt logs a failed start with a traceback; we print one readable line instead.
    logging.getLogger("amqtt.broker").addFilter(
        lambda record: record.getMessage() != "Broker startup failed"
    )


async def _serve(settings: BrokerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_broker(settings) as running:
        typer.echo(f"broker listening on {running.url}")  # scripts and tests wait for this line
        await stop.wait()
