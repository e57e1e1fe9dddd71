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
    tls_port: Annotated[
        int | None,
        typer.Option(help="Open a TLS listener on this port too (e.g. 8883); 0 picks a free one"),
    ] = None,
    tls_certfile: Annotated[
        Path | None, typer.Option(help="PEM server certificate of the TLS listener")
    ] = None,
    tls_keyfile: Annotated[
        Path | None, typer.Option(help="PEM private key of --tls-certfile (unencrypted)")
    ] = None,
    tls_cafile: Annotated[
        Path | None, typer.Option(help="PEM CA that client certificates must be signed by")
    ] = None,
    tls_require_client_cert: Annotated[
        bool | None,
        typer.Option(
            "--tls-require-client-cert/--no-tls-require-client-cert",
            help="Refuse TLS clients without a certificate from --tls-cafile; its CN must be "
            "the username (device id)",
            show_default="no-tls-require-client-cert",
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
            tls_port=tls_port,
            tls_certfile=tls_certfile,
            tls_keyfile=tls_keyfile,
            tls_cafile=tls_cafile,
            tls_require_client_cert=tls_require_client_cert,
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
        if running.tls_url is not None:
            typer.echo(f"broker TLS listener on {running.tls_url}")  # before the ready line
        typer.echo(f"broker listening on {running.url}")  # scripts and tests wait for this line
        await stop.wait()
