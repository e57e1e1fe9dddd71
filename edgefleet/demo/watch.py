"""What the demo prints while it runs: one line per result, event, status or error."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from contract import Topics
from contract.health import DeviceState
from edgefleet.demo.fleet import say

WATCHED = ("status", "result", "event", "error")


def describe(topic: str, payload: bytes, topics: Topics) -> str | None:
    """One line for a result/event/status/error message, None for the rest."""
    try:
        parsed = topics.parse(topic)
        data = json.loads(payload)
    except Exception:
        return None
    kind, d = parsed.kind.value, parsed.device
    if kind == "status":
        return f"{d:<12} status   {data.get('state')}"
    if kind == "result":
        return _result(d, parsed, data)
    if kind == "event":
        return f"{d:<12} event    {parsed.name} rid={data.get('rid') or '-'}"
    if kind == "error":
        return f"{d:<12} error    {data.get('code')}: {data.get('error')}"
    return None


def _result(device: str, parsed: Any, data: dict[str, Any]) -> str:
    out = data.get("output", {})
    if "faces" in out:
        what = f"{len(out['faces'])} face(s)"
    elif "detected" in out:
        what = f"wake word {out.get('wake_word')}" if out["detected"] else "no wake word"
        what += f" (p={out.get('probability', 0):.2f})"
    else:
        what = "result"
    src = data.get("source_topic") or ""
    via = f" via {src}" if src and "/infer/" not in src else ""
    return (
        f"{device:<12} result   {parsed.model} rid={parsed.rid or '-'}: {what}, "
        f"{data.get('latency_ms', 0):.1f} ms{via}"
    )


async def watch(client: Any, topics: Topics, quiet: bool, online: set[str]) -> None:
    """Keep `online` up to date from status messages; print a line per message unless quiet."""
    async for message in client.messages:
        topic, payload = str(message.topic), bytes(message.payload or b"")
        if topic.endswith("/status"):
            with contextlib.suppress(Exception):
                state = json.loads(payload).get("state")
                device = topics.parse(topic).device
                (online.add if state == DeviceState.ONLINE else online.discard)(device)
        if not quiet and (line := describe(topic, payload, topics)):
            say(line)
