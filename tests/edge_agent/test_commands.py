"""Hub commands on the agent (fake link): typed replies, and a typed error for every refusal."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from contract import Command, CommandReply, ErrorCode, PingArgs, Topics, decode, encode
from tests.contract.samples import FL_TRAIN, MODEL_UPDATE
from tests.edge_agent.test_agent import D, FakeAgent, agent, send  # noqa: F401 - fixture

T = Topics()
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def reply_schema(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((SCHEMAS / f"{name}-reply.json").read_text()))


async def command(agent: FakeAgent, name: str, payload: dict[str, Any]) -> CommandReply:  # noqa: F811
    send(agent, T.cmd(D, name), json.dumps(payload).encode())
    (message,) = await agent.fake_link.wait_for(1)
    assert message.topic == T.cmd_reply(D, name)
    reply_schema(name if name in ("ping", "fl-train", "model-update") else "command").validate(
        json.loads(message.payload)
    )
    return decode(CommandReply, message.payload)


async def test_ping_answers_state_and_models(agent: FakeAgent) -> None:  # noqa: F811
    reply = await command(agent, "ping", json.loads(encode(Command.of(PingArgs(), "c1"))))
    assert (reply.cmd_id, reply.ok, reply.code) == ("c1", True, None)
    assert reply.result == {"state": "running", "models": ["fake-face", "fake-word"]}


@pytest.mark.parametrize(
    ("name", "args", "code", "error"),
    [
        ("dance", {}, ErrorCode.UNKNOWN_COMMAND, "unknown command 'dance'; known: ping, "),
        ("fl-train", {**FL_TRAIN.model_dump(mode="json"), "epochs": "3"}, ErrorCode.BAD_ARGS,
         "bad `fl-train` args: epochs: Input should be a valid integer"),
        ("model-update", {"url": "/x"}, ErrorCode.BAD_ARGS,
         "bad `model-update` args: manifest: Field required"),
        ("fl-train", FL_TRAIN.model_dump(mode="json"), ErrorCode.UNSUPPORTED,
         "fl-train: this device has federated learning disabled"),
        ("reboot", {}, ErrorCode.UNSUPPORTED,
         "reboot is off on this device (commands.reboot: true enables it)"),
        ("logs", {"lines": 0}, ErrorCode.BAD_ARGS,
         "bad `logs` args: lines: Input should be greater than or equal to 1"),
    ],
)  # fmt: skip
async def test_refused_commands_get_a_typed_error_reply(
    agent: FakeAgent,  # noqa: F811
    name: str,
    args: dict[str, Any],
    code: ErrorCode,
    error: str,
) -> None:
    reply = await command(agent, name, {"cmd_id": "c9", "args": args})
    assert (reply.cmd_id, reply.ok, reply.code) == ("c9", False, code)
    assert reply.error is not None
    assert reply.error.startswith(error), reply.error
    assert agent.stats.counters["commands"] == 1


async def test_model_update_runs_in_the_background_and_replies_why_it_failed(
    agent: FakeAgent,  # noqa: F811
) -> None:
    """The agent serves no `engine-fault`: refused as `not_loaded`, the reason in the reply."""
    reply = await command(agent, "model-update", json.loads(encode(Command.of(MODEL_UPDATE, "u1"))))
    assert (reply.cmd_id, reply.ok, reply.code) == ("u1", False, ErrorCode.COMMAND_FAILED)
    assert reply.error is not None
    assert reply.error.startswith("not_loaded: model engine-fault is not loaded here")


async def test_agent_answers_after_a_refused_command(agent: FakeAgent) -> None:  # noqa: F811
    await command(agent, "fl-train", {"cmd_id": "bad", "args": {"round_id": "one"}})
    agent.fake_link.published.clear()
    assert (await command(agent, "ping", {"cmd_id": "after"})).ok
