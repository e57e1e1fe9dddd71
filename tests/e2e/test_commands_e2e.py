"""Typed commands against `edgefleet agent` as a real process on both brokers: `fl-train` with
arguments of the wrong types gets a typed error reply that follows the published schemas and
carries the request's cmd_id, and the agent goes on answering."""

import json

import pytest

from contract import Command, PingArgs, Topics, encode
from tests.contract.samples import FL_TRAIN
from tests.e2e.test_agent_e2e import (  # noqa: F401 - fixtures
    DEVICE,
    FACE,
    TIMEOUT,
    WAKE,
    RunningAgent,
    agent,
    agent_settings,
)
from tests.fixtures.contract import schema

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

T = Topics()


def test_fl_train_with_wrong_types_gets_a_typed_error_and_the_agent_answers_on(
    agent: RunningAgent,  # noqa: F811
) -> None:
    # Prepare
    wrong = {**FL_TRAIN.model_dump(mode="json"), "epochs": "two", "learning_rate": [0.1]}
    request = {"cmd_id": "e2e-fl-1", "args": wrong}
    # Execute
    agent.probe.publish(T.cmd(DEVICE, "fl-train"), json.dumps(request))
    found = agent.probe.wait_for(T.cmd_reply(DEVICE, "fl-train"), timeout=TIMEOUT)
    # Assert
    reply = found.json()
    schema("fl-train-reply.json").validate(reply)
    schema("command-reply.json").validate(reply)
    assert (reply["cmd_id"], reply["ok"], reply["code"]) == ("e2e-fl-1", False, "bad_args")
    assert "epochs: Input should be a valid integer" in reply["error"]
    assert "learning_rate: Input should be a valid number" in reply["error"]
    # ... and the agent keeps answering
    ping = Command.of(PingArgs(), "e2e-ping-1")
    agent.probe.publish(T.cmd(DEVICE, "ping"), encode(ping))
    pong = agent.probe.wait_for(T.cmd_reply(DEVICE, "ping"), timeout=TIMEOUT).json()
    schema("ping-reply.json").validate(pong)
    assert (pong["cmd_id"], pong["ok"]) == ("e2e-ping-1", True)
    assert pong["result"] == {"state": "running", "models": [FACE, WAKE]}
    assert agent.proc.poll() is None
