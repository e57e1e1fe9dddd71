"""Enroll this device at a hub and write its config (the command: edge_agent.provision_cli).

One call, `POST` to the hub's enroll path (contract.http.ENROLL) with `Authorization: Bearer
T`, exchanges a one-time enrollment token for a device id and secret plus where the broker is
(`contract.Enrollment`). The answer is written
into the agent's YAML config (mode 0600, replaced atomically): `device_id`, `topic_prefix`,
`broker.host/port/username/password` and `hub.url`. Keys already in the file (models, sensors,
...) are kept, so a config template from a bundle can be provisioned in place.

The same code runs when `edgefleet agent --config F` starts with `hub.url` and
`hub.enrollment_token` in F but no credentials yet (first boot of a flashed image): it enrolls,
then rewrites F without the token.

Only connection failures (the request never reached the hub) are retried: a POST that timed
out after being sent may have used the token, and retrying it would fail with `token_used`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from contract import ContractError, decode, http
from contract.enrollment import Enrollment
from contract.ids import ID_PATTERN, is_id
from models.files import write_atomic

TOKEN_RE = re.compile(r"eft_[A-Za-z0-9_-]{20,200}")
DEFAULT_CONFIG = Path("/etc/edgefleet/agent.yaml")
DEFAULT_MODELS = ("face-detect-lite",)


class ProvisionError(Exception):
    """Enrollment failed; the message is meant for a person."""


_HUB_ERRORS = {
    "invalid_token": "the hub does not know this enrollment token (typo, or another hub?)",
    "token_expired": "the enrollment token has expired; ask for a new one",
    "token_revoked": "the enrollment token was revoked; ask for a new one",
    "token_used": "the enrollment token has already been used; ask for a new one",
    "device_exists": "a device with this id is already registered at the hub; choose another "
    "--device-id, or delete the old device first (the token was not used)",
}


def check_token(token: str) -> str:
    token = token.strip()
    if not TOKEN_RE.fullmatch(token):
        shown = token if len(token) <= 12 else token[:8] + "..."
        create = http.path(http.ENROLLMENT_TOKENS)
        raise ProvisionError(
            f"{shown!r} is not an enrollment token: tokens look like 'eft_' followed by "
            f"43 letters, digits, '-' or '_' (create one with POST {create})"
        )
    return token


def check_hub_url(url: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url) < 10:
        raise ProvisionError(
            f"--hub must be the hub's base URL, like http://hub:8000 (got {url!r})"
        )
    return url.rstrip("/").removesuffix(http.API_PREFIX)


def _describe_error(status: int, body: Any) -> str:
    error = body.get("error", {}) if isinstance(body, dict) else {}
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    if code in _HUB_ERRORS:
        return f"enrollment refused ({status} {code}): {_HUB_ERRORS[code]}"
    if status in (401, 403):
        return f"enrollment refused ({status}): the hub did not accept the token: {message}"
    if status == 410:
        return f"enrollment refused (410): the token is no longer valid: {message}"
    if status == 422:
        return f"enrollment refused (422): the hub rejected the request: {message or body}"
    return f"enrollment failed: hub answered {status}: {message or str(body)[:300]}"


def enroll(
    hub_url: str,
    token: str,
    *,
    device_id: str | None = None,
    name: str | None = None,
    models: Sequence[str] = (),
    hardware: str | None = None,
    timeout_s: float = 10.0,
    attempts: int = 5,
) -> Enrollment:
    """`POST` the hub's enroll path; the answer (its secret is shown only this once), or
    ProvisionError with a human message."""
    import httpx
    from tenacity import (
        retry,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential_jitter,
    )

    hub_url = check_hub_url(hub_url)
    token = check_token(token)
    if device_id is not None and not is_id(device_id):
        raise ProvisionError(f"--device-id {device_id!r} is not a valid device id ({ID_PATTERN})")
    from edgefleet import __version__

    body: dict[str, Any] = {"agent_version": __version__, "capabilities": list(models)}
    for key, value in (("device_id", device_id), ("name", name), ("hardware", hardware)):
        if value is not None:
            body[key] = value

    @retry(
        retry=retry_if_exception_type((httpx.ConnectError, httpx.ConnectTimeout)),
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential_jitter(initial=0.5, max=8.0),
        reraise=True,
    )
    def post() -> httpx.Response:
        with httpx.Client(timeout=timeout_s) as client:
            return client.post(
                hub_url + http.path(http.ENROLL),
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )

    try:
        response = post()
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise ProvisionError(
            f"cannot reach the hub at {hub_url} after {attempts} attempts: {exc}"
        ) from None
    except httpx.HTTPError as exc:
        raise ProvisionError(f"enrollment request to {hub_url} failed: {exc}") from None
    try:
        data = response.json()
    except ValueError:
        data = response.text
    if response.status_code != 201:
        raise ProvisionError(_describe_error(response.status_code, data))
    return parse_enrollment(response.content, hub_url)


def parse_enrollment(body: bytes | str, hub_url: str) -> Enrollment:
    """The hub's 201 answer as the contract's model; ProvisionError when it is not one."""
    try:
        answer = decode(Enrollment, body)
    except ContractError as exc:
        raise ProvisionError(f"unexpected enrollment answer from {hub_url}: {exc}") from None
    return answer.model_copy(update={"hub_url": answer.hub_url.rstrip("/")})


# ------------------------------------------------------------------------------- the file


def read_yaml(path: Path) -> dict[str, Any]:
    """The config file as a mapping ({} when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ProvisionError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProvisionError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProvisionError(f"{path}: the top level must be a mapping")
    return data


def write_secret_file(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (temp file + rename in the same directory), mode 0600."""
    write_atomic(path.absolute(), text, mode=0o600)


def merge_enrollment(data: dict[str, Any], result: Enrollment) -> dict[str, Any]:
    """The config `data` with the enrollment's credentials in, the token out."""
    out = dict(data)
    out["device_id"] = result.device_id
    out["topic_prefix"] = result.mqtt.topic_prefix
    broker = dict(out.get("broker") or {})
    broker.update(
        host=result.mqtt.host,
        port=result.mqtt.port,
        username=result.mqtt.username,
        password=result.device_secret,
    )
    out["broker"] = broker
    hub = dict(out.get("hub") or {})
    hub.pop("enrollment_token", None)
    hub["url"] = result.hub_url
    out["hub"] = hub
    out.setdefault("models", list(DEFAULT_MODELS))
    sync = dict(out.get("model_sync") or {})
    if result.signing_key and not sync.get("public_key"):  # pinned once; a set key is kept
        sync["public_key"] = result.signing_key
        out["model_sync"] = sync
    return out


def render_config(data: dict[str, Any]) -> str:
    header = (
        "# edgefleet agent configuration (docs/agent.md), written by `edgefleet provision`.\n"
        "# broker.password is this device's secret (also its hub API password): keep this\n"
        "# file private (mode 0600).\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def needs_enrollment(data: dict[str, Any]) -> bool:
    """A config with `hub.url` + `hub.enrollment_token` and no device secret yet."""
    hub = data.get("hub")
    broker = data.get("broker") or {}
    return (
        isinstance(hub, dict)
        and bool(hub.get("url"))
        and bool(hub.get("enrollment_token"))
        and not (isinstance(broker, dict) and broker.get("password"))
    )


def enroll_config_file(path: Path) -> Enrollment:
    """First start: enroll with the token in `path`, rewrite it with credentials, no token."""
    data = read_yaml(path)
    hub = data["hub"]
    models = data.get("models") if isinstance(data.get("models"), list) else []
    result = enroll(
        str(hub["url"]),
        str(hub["enrollment_token"]),
        device_id=data.get("device_id") or default_device_id(),
        name=data.get("device_name") if isinstance(data.get("device_name"), str) else None,
        models=[str(m) for m in models or []],
        hardware=hardware(),
    )
    data.pop("device_name", None)
    write_secret_file(path, render_config(merge_enrollment(data, result)))
    return result


def hardware() -> str | None:
    """The board (a Pi's device-tree model) or the CPU architecture, for the hub's registry."""
    with contextlib.suppress(OSError):
        return Path("/proc/device-tree/model").read_text().strip("\x00\n ")[:200] or None
    return os.uname().machine


def default_device_id() -> str | None:
    """The host name when it is a valid device id (a flashed Pi's `--hostname`)."""
    host = socket.gethostname().split(".")[0].lower()
    return host if is_id(host) and host not in {"localhost", "raspberrypi"} else None


__all__ = [
    "Enrollment",
    "ProvisionError",
    "check_token",
    "default_device_id",
    "enroll",
    "enroll_config_file",
    "hardware",
    "merge_enrollment",
    "needs_enrollment",
    "parse_enrollment",
    "render_config",
    "write_secret_file",
]
