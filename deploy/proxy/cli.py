"""`edgefleet proxy --ingest HOST:PORT [--ingest ...] [--api HOST:PORT ...]`: print the nginx
configuration for hub replicas (deploy/proxy/nginx.py says what goes where)."""

from pathlib import Path
from typing import Annotated

import typer

from deploy.proxy.nginx import Upstreams, render

app = typer.Typer(add_completion=False, help="Print the nginx configuration for hub replicas.")

COMPOSE = Upstreams(ingest=["hub:8000"], api=["hub-api:8000"], listen="80", resolver="127.0.0.11")
"""deploy/compose/nginx/nginx.conf: Docker's DNS gives `hub-api` every replica's address."""


@app.command()
def main(
    ingest: Annotated[
        list[str], typer.Option(help="host:port of a replica with the MQTT bridge (repeat)")
    ],
    api: Annotated[list[str] | None, typer.Option(help="host:port of an API replica")] = None,
    listen: Annotated[str, typer.Option(help="nginx `listen` argument")] = "80",
    resolver: Annotated[str | None, typer.Option(help="DNS server to re-resolve names")] = None,
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    text = render(Upstreams(ingest, api or [], listen, resolver))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
