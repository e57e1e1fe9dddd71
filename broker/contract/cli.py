"""`edgefleet contract`: export the MQTT contract in machine-readable form."""

from pathlib import Path
from typing import Annotated

import typer

from broker.contract import schemas as schema_docs

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def main() -> None:
    """Export the MQTT topic contract v1 (JSON Schemas; AsyncAPI to come)."""


@app.command()
def schemas(
    out: Annotated[Path, typer.Option(help="Directory of the schema files")] = Path("docs/schemas"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the files are out of date")
    ] = False,
) -> None:
    """Write one JSON Schema per payload model plus index.json."""
    if check:
        problems = schema_docs.differences(out)
        for problem in problems:
            typer.echo(f"{out}/{problem}", err=True)
        if problems:
            typer.echo("run `edgefleet contract schemas` to regenerate", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out}: up to date")
        return
    for path in schema_docs.write(out):
        typer.echo(f"wrote {path}")
