"""`edgefleet bundle --arch {aarch64,armv7l,x86_64} [--python 3.11]`: build an offline bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from deploy.bundle.build import DEFAULT_MODELS, BundleError, build_bundle
from deploy.bundle.manifest import ARCHES

app = typer.Typer(add_completion=False, help="Build an offline-installable agent bundle.")


class _Bars:
    """One progress bar per step (typer/click), drawn on stderr."""

    def __init__(self) -> None:
        self.step: str | None = None
        self.bar: Any = None
        self.done = 0

    def __call__(self, step: str, done: int, total: int) -> None:
        if step != self.step:
            self.close()
            self.step, self.done = step, 0
            self.bar = typer.progressbar(length=max(total, 1), label=f"{step:<18}", file=None)
            self.bar.__enter__()
        if self.bar is not None and done > self.done:
            self.bar.update(done - self.done)
            self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@app.command()
def bundle(
    arch: Annotated[str, typer.Option(help=f"Target CPU: {', '.join(ARCHES)}")],
    python: Annotated[
        str,
        typer.Option(help="Target Python major.minor: 3.13 for Pi OS Trixie, 3.11 for Bookworm"),
    ] = "3.11",
    out: Annotated[Path, typer.Option(help="Output directory")] = Path("dist"),
    models: Annotated[
        list[str] | None, typer.Option("--models", help="Catalogue model ids (repeatable)")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Wheel cache (default var/cache/wheels)")
    ] = None,
) -> None:
    """Agent wheel + dependency wheelhouse + verified models + unit + install script."""
    bars = _Bars()
    try:
        tarball = build_bundle(
            arch,
            python=python,
            out_dir=out,
            models=list(models or DEFAULT_MODELS),
            cache_dir=cache_dir,
            progress=bars,
        )
    except BundleError as exc:
        bars.close()
        typer.echo(f"edgefleet bundle: {exc}", err=True)
        raise typer.Exit(1) from None
    bars.close()
    typer.echo(f"bundle written: {tarball} ({tarball.stat().st_size / 1e6:.1f} MB)")
