"""Fleet commands against `edgefleet agent` as a real process on both brokers: `logs` from the
agent's memory, `restart` (reply first, then exit with the launcher's restart code), `reboot`
(off by default; when enabled it runs the configured command after replying), and
`agent-update` refused as `unsupported` on an agent that no launcher started."""

from pathlib import Path
from typing import Any

import pytest

from contract import AgentUpdateArgs, Command, LogsArgs, RebootArgs, RestartArgs, Topics, encode
from edge_agent import launcher
from edgefleet.procs.wait import wait_until
from tests.contract.samples import AGENT_UPDATE
from tests.e2e.test_agent_e2e import (  # noqa: F401 - fixtures
    DEVICE,
    TIMEOUT,
    RunningAgent,
    agent,
    is_status,
)
from tests.fixtures.contract import schema

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

T = Topics()


def ask(agent: RunningAgent, name: str, command: Command) -> dict[str, Any]:  # noqa: F811
    agent.probe.publish(T.cmd(DEVICE, name), encode(command))
    found = agent.probe.wait_for(
        lambda m: m.topic == T.cmd_reply(DEVICE, name) and m.json()["cmd_id"] == command.cmd_id,
        timeout=TIMEOUT,
    )
    reply: dict[str, Any] = found.json()
    schema(f"{name}-reply.json").validate(reply)
    return reply


@pytest.fixture
def agent_settings(tmp_path: Path) -> dict[str, Any]:
    return {"commands": {"reboot": True, "reboot_command": ["touch", str(tmp_path / "rebooted")]}}


def test_logs_returns_the_agents_last_lines_oldest_first(agent: RunningAgent) -> None:  # noqa: F811
    reply = ask(agent, "logs", Command.of(LogsArgs(lines=1000), "logs-1"))
    assert reply["ok"] is True
    lines: list[str] = reply["result"]["lines"]
    assert reply["result"]["truncated"] is False
    started = next(i for i, line in enumerate(lines) if "connecting -> running" in line)
    assert any("starting -> connecting" in line for line in lines[:started])
    assert all(" INFO " in line or " WARNING " in line or " ERROR " in line for line in lines)
    # a smaller tail is the newest lines of the same log
    two = ask(agent, "logs", Command.of(LogsArgs(lines=2), "logs-2"))["result"]["lines"]
    assert len(two) == 2
    assert agent.proc.poll() is None


def test_restart_replies_then_exits_with_the_launchers_restart_code(
    agent: RunningAgent,  # noqa: F811
) -> None:
    reply = ask(agent, "restart", Command.of(RestartArgs(), "restart-1"))
    assert (reply["ok"], reply["result"]) == (True, {"restarting": True})
    assert agent.proc.wait(TIMEOUT) == launcher.RESTART_EXIT
    agent.probe.wait_for(is_status("offline"), timeout=TIMEOUT)  # a clean stop, not the Will


def test_reboot_runs_the_configured_command_after_replying(
    agent: RunningAgent,  # noqa: F811
    tmp_path: Path,
) -> None:
    reply = ask(agent, "reboot", Command.of(RebootArgs(), "reboot-1"))
    assert (reply["ok"], reply["result"]) == (True, {"rebooting": True})
    flag = tmp_path / "rebooted"
    wait_until(flag.exists, agent.proc, timeout=TIMEOUT, what="the reboot command")
    assert agent.proc.poll() is None  # the OS's reboot stops it, not the agent


def test_agent_update_without_a_launcher_is_unsupported(agent: RunningAgent) -> None:  # noqa: F811
    args: AgentUpdateArgs = AGENT_UPDATE
    reply = ask(agent, "agent-update", Command.of(args, "update-1"))
    assert (reply["ok"], reply["code"]) == (False, "unsupported")
    assert "not started by the edgefleet launcher" in reply["error"]
    assert agent.proc.poll() is None
