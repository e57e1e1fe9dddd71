"""`edgefleet fl`: start federated rounds and follow them through the hub API."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer

from contract.http import ROUND, ROUND_UPDATES, ROUNDS, path

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Federated learning rounds on the hub (docs/federated.md).",
)

HubOption = Annotated[str, typer.Option("--hub", envvar="EDGEFLEET_HUB_URL", help="Hub base URL")]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="EDGEFLEET_ADMIN_API_KEY",
        help="Admin API key (default: var/hub/admin.key in development)",
    ),
]


def _client(hub: str, key: str | None) -> httpx.Client:
    if key is None:
        path = Path(os.environ.get("EDGEFLEET_DATA_DIR", "var/hub")) / "admin.key"
        try:
            key = path.read_text().strip() if path.exists() else None
        except OSError as exc:
            _fail(f"cannot read the admin key {path}: {exc.strerror}", code=2)
    if key is None:
        _fail("no admin key (--key or EDGEFLEET_ADMIN_API_KEY)", code=2)
    try:
        return httpx.Client(base_url=hub, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    except httpx.InvalidURL as exc:
        _fail(f"invalid hub URL {hub!r} (--hub / EDGEFLEET_HUB_URL): {exc}", code=2)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"edgefleet fl: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _hub(hub: str, key: str | None) -> Iterator[httpx.Client]:
    """A client for the hub; a failed request ends the command with one line naming the URL
    and what went wrong (exit 1; 2 for a bad URL or key), never a traceback."""
    client = _client(hub, key)
    try:
        with client:
            yield client
    except httpx.UnsupportedProtocol:
        _fail(f"invalid hub URL {hub!r}: it needs http:// or https:// (--hub)", code=2)
    except httpx.InvalidURL as exc:
        _fail(f"invalid hub URL {hub!r} (--hub / EDGEFLEET_HUB_URL): {exc}", code=2)
    except httpx.TimeoutException as exc:
        _fail(f"hub at {hub} did not answer in time: {_request(exc)} timed out")
    except httpx.RequestError as exc:
        reason = str(exc) or type(exc).__name__
        _fail(f"cannot reach the hub at {hub}: {_request(exc)} failed: {reason}")


def _request(exc: httpx.RequestError) -> str:
    try:
        return f"{exc.request.method} {exc.request.url}"
    except RuntimeError:  # no request attached
        return "the request"


def _out(r: httpx.Response) -> Any:
    where = f"{r.request.method} {r.request.url}"
    if r.status_code >= 400:
        body = " ".join(r.text.split())[:300]  # one line, even for an HTML error page
        _fail(f"{where} answered {r.status_code} {body}")
    try:
        return r.json()
    except ValueError:
        _fail(f"{where} answered {r.status_code} but not with JSON: is --hub the hub's URL?")


@app.command("start")
def start(
    hub: HubOption = "http://127.0.0.1:8000",
    key: KeyOption = None,
    model: Annotated[str, typer.Option(help="Model to train")] = "engine-fault",
    fraction: Annotated[float, typer.Option(help="Share of online devices invited")] = 1.0,
    tag: Annotated[str | None, typer.Option(help="Only devices with this tag")] = None,
    site: Annotated[str | None, typer.Option(help="Only devices in this site")] = None,
    health: Annotated[
        str, typer.Option(help="live (online or degraded) | healthy (online only)")
    ] = "live",
    min_clients: Annotated[int, typer.Option(help="Fewer accepted updates: fail")] = 2,
    deadline: Annotated[float, typer.Option(help="Seconds to wait for updates")] = 120.0,
    epochs: Annotated[int, typer.Option(help="Local epochs")] = 1,
    lr: Annotated[float, typer.Option(help="Local learning rate")] = 0.1,
    aggregation: Annotated[str, typer.Option(help="fedavg | trimmed_mean | median")] = "fedavg",
    mode: Annotated[str, typer.Option(help="sync | async")] = "sync",
    buffer_size: Annotated[int, typer.Option(help="async: updates per aggregation")] = 2,
    int8: Annotated[bool, typer.Option("--int8/--fp32", help="Quantize updates")] = False,
    secure: Annotated[bool, typer.Option("--secure/--plain", help="Pairwise masking")] = False,
    secure_range: Annotated[
        float, typer.Option(help="--secure with --int8: values clipped to +-this, 255 steps")
    ] = 1.0,
    dp_noise: Annotated[float | None, typer.Option(help="DP noise multiplier (on)")] = None,
    dp_clip: Annotated[float, typer.Option(help="DP clipping norm")] = 1.0,
    deploy: Annotated[str, typer.Option(help="all | canary | none")] = "all",
    canary_percent: Annotated[float, typer.Option(help="deploy canary: share first")] = 10.0,
    canary_window: Annotated[float, typer.Option(help="deploy canary: seconds watched")] = 300.0,
    max_regression: Annotated[
        float,
        typer.Option(help="Validation accuracy the result may lose against the base (0.01)"),
    ] = 0.01,
    gate: Annotated[
        bool, typer.Option("--gate/--no-gate", help="Refuse a result worse than its base")
    ] = True,
) -> None:
    """Start a round; prints its JSON (`id`, `state`, participants)."""
    body: dict[str, Any] = {
        "model": model,
        "fraction": fraction,
        "min_clients": min_clients,
        "deadline_s": deadline,
        "local_epochs": epochs,
        "learning_rate": lr,
        "aggregation": aggregation,
        "mode": mode,
        "buffer_size": buffer_size,
        "quantization": "int8" if int8 else "none",
        "secure_aggregation": secure,
        "secure_range": secure_range,
        "deploy": deploy,
        "canary": {"percent": canary_percent, "window_s": canary_window},
        "max_regression": max_regression if gate else None,
        "health": health,
    }
    body |= {k: v for k, v in (("tag", tag), ("site", site)) if v is not None}
    if dp_noise is not None:
        body["privacy"] = {"clip_norm": dp_clip, "noise_multiplier": dp_noise}
    with _hub(hub, key) as client:
        typer.echo(json.dumps(_out(client.post(path(ROUNDS), json=body)), indent=2))


@app.command("status")
def status(
    round_id: int,
    hub: HubOption = "http://127.0.0.1:8000",
    key: KeyOption = None,
    updates: Annotated[bool, typer.Option(help="Also list the updates")] = False,
) -> None:
    """One round (and its updates with accept/reject reasons)."""
    with _hub(hub, key) as client:
        out = _out(client.get(path(ROUND, round_id=round_id)))
        if updates:
            out["update_list"] = _out(client.get(path(ROUND_UPDATES, round_id=round_id)))
    typer.echo(json.dumps(out, indent=2))


@app.command("history")
def history(
    hub: HubOption = "http://127.0.0.1:8000",
    key: KeyOption = None,
    model: str | None = None,
    limit: int = 20,
) -> None:
    """Recent rounds, one line each."""
    params: dict[str, Any] = {"limit": limit}
    if model:
        params["model"] = model
    with _hub(hub, key) as client:
        rounds = _out(client.get(path(ROUNDS), params=params))
    for r in rounds:
        acc = r["metrics"].get("validation_accuracy")
        typer.echo(
            f"{r['id']:>5}  {r['state']:<11} {r['model']:<14} "
            f"{r['base_version'] or '-':>8} -> {r['result_version'] or '-':<8} "
            f"clients {r['updates']['accepted']:>3}  rejected {r['updates']['rejected']:>3}"
            f"  acc {acc if acc is not None else '-'}  {r['reason'] or ''}"
        )
