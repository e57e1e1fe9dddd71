"""`edgefleet contract`: export the contract in machine-readable form."""

from pathlib import Path
from typing import Annotated

import typer

from contract import asyncapi as asyncapi_doc
from contract import javascript
from contract import schemas as schema_docs

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def main() -> None:
    """Export the MQTT topic contract v1 (JSON Schemas and an AsyncAPI 3.0 document)."""


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


@app.command()
def asyncapi(
    out: Annotated[Path, typer.Option(help="The AsyncAPI file")] = Path("docs/asyncapi.yaml"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the file is out of date")
    ] = False,
) -> None:
    """Write the AsyncAPI 3.0 document (payloads reference the JSON Schemas in schemas/)."""
    if check:
        if not asyncapi_doc.is_up_to_date(out):
            typer.echo(f"{out}: out of date; run `edgefleet contract asyncapi`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out}: up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(asyncapi_doc.generate(), encoding="utf-8")
    typer.echo(f"wrote {out}")


@app.command()
def js(
    out: Annotated[Path, typer.Option(help="The ES module")] = javascript.DEFAULT_OUT,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the file is out of date")
    ] = False,
) -> None:
    """Write the dashboard's `contract.js` (API prefix, device states, health bands)."""
    if check:
        if not javascript.is_up_to_date(out):
            typer.echo(f"{out}: out of date; run `edgefleet contract js`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out}: up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(javascript.generate(), encoding="utf-8")
    typer.echo(f"wrote {out}")
