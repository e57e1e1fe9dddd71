"""`edgefleet fl`: start federated rounds and follow them through the hub API."""

import json
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

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
        key = path.read_text().strip() if path.exists() else None
    if key is None:
        typer.echo("edgefleet fl: no admin key (--key or EDGEFLEET_ADMIN_API_KEY)", err=True)
        raise typer.Exit(2)
    return httpx.Client(base_url=hub, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _out(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        typer.echo(f"edgefleet fl: {r.status_code} {r.text}", err=True)
        raise typer.Exit(1)
    return r.json()


@app.command("start")
def start(
    hub: HubOption = "http://127.0.0.1:8000",
    key: KeyOption = None,
    model: Annotated[str, typer.Option(help="Model to train")] = "engine-fault",
    fraction: Annotated[float, typer.Option(help="Share of online devices invited")] = 1.0,
    min_clients: Annotated[int, typer.Option(help="Fewer accepted updates: fail")] = 2,
    deadline: Annotated[float, typer.Option(help="Seconds to wait for updates")] = 120.0,
    epochs: Annotated[int, typer.Option(help="Local epochs")] = 1,
    lr: Annotated[float, typer.Option(help="Local learning rate")] = 0.1,
    aggregation: Annotated[str, typer.Option(help="fedavg | trimmed_mean | median")] = "fedavg",
    mode: Annotated[str, typer.Option(help="sync | async")] = "sync",
    buffer_size: Annotated[int, typer.Option(help="async: updates per aggregation")] = 2,
    int8: Annotated[bool, typer.Option("--int8/--fp32", help="Quantize updates")] = False,
    secure: Annotated[bool, typer.Option("--secure/--plain", help="Pairwise masking")] = False,
    dp_noise: Annotated[float | None, typer.Option(help="DP noise multiplier (on)")] = None,
    dp_clip: Annotated[float, typer.Option(help="DP clipping norm")] = 1.0,
    deploy: Annotated[str, typer.Option(help="all | none")] = "all",
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
        "deploy": deploy,
    }
    if dp_noise is not None:
        body["privacy"] = {"clip_norm": dp_clip, "noise_multiplier": dp_noise}
    with _client(hub, key) as client:
        typer.echo(json.dumps(_out(client.post("/api/v1/fl/rounds", json=body)), indent=2))


@app.command("status")
def status(
    round_id: int,
    hub: HubOption = "http://127.0.0.1:8000",
    key: KeyOption = None,
    updates: Annotated[bool, typer.Option(help="Also list the updates")] = False,
) -> None:
    """One round (and its updates with accept/reject reasons)."""
    with _client(hub, key) as client:
        out = _out(client.get(f"/api/v1/fl/rounds/{round_id}"))
        if updates:
            out["update_list"] = _out(client.get(f"/api/v1/fl/rounds/{round_id}/updates"))
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
    with _client(hub, key) as client:
        rounds = _out(client.get("/api/v1/fl/rounds", params=params))
    for r in rounds:
        acc = r["metrics"].get("validation_accuracy")
        typer.echo(
            f"{r['id']:>5}  {r['state']:<11} {r['model']:<14} "
            f"{r['base_version'] or '-':>8} -> {r['result_version'] or '-':<8} "
            f"clients {r['updates']['accepted']:>3}  rejected {r['updates']['rejected']:>3}"
            f"  acc {acc if acc is not None else '-'}  {r['reason'] or ''}"
        )
