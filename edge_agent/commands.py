"""Hub commands on the device: `cmd/{name}` in, `cmd/{name}/reply` out (contract.command).

`ping` and `logs` answer at once; `restart` and `reboot` answer, then act (the reply is
delivered before the session closes: Link.close waits for pending publishes);
`model-update` and `fl-train` go to DeviceLearning, `agent-update` to the Updater, and
those reply when their work is done — for an agent update, from the version that runs after
the switch (edge_agent.agent_update).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from contract import (
    AgentUpdateArgs,
    Command,
    CommandError,
    CommandName,
    CommandReply,
    ErrorCode,
    FlTrainArgs,
    LogsArgs,
    LogsResult,
    ModelUpdateArgs,
    PingArgs,
    PingResult,
    RebootArgs,
    RebootResult,
    RestartArgs,
    RestartResult,
    Topics,
    parse_args,
)
from contract import encode as encode_message
from edge_agent import launcher
from edge_agent.agent_update import Refused, Trial, Updater
from edge_agent.config import AgentConfig
from edge_agent.federated import DeviceLearning
from edge_agent.logring import ring
from edge_agent.messages import Outbound

log = logging.getLogger(__name__)


class Commands:
    """Runs the commands addressed to this device and publishes every reply."""

    def __init__(
        self,
        config: AgentConfig,
        topics: Topics,
        publish: Callable[[Outbound], None],
        learning: DeviceLearning,
        state: Callable[[], str],
        stop: Callable[[int], None],
    ) -> None:
        self.config = config
        self.topics = topics
        self._publish = publish
        self.learning = learning
        self._state = state
        self._stop = stop
        self.updater = Updater(config)
        self.trial = Trial(self.updater.root)
        self._tasks: set[asyncio.Task[Any]] = set()

    def reply(self, name: str, reply: CommandReply) -> None:
        topic = self.topics.cmd_reply(self.config.device_id, name)
        self._publish(Outbound(topic, encode_message(reply), 1, False, label="reply"))

    def handle(self, name: str, command: Command) -> None:
        """Run `command`; raises nothing a caller must handle (failures become replies)."""
        try:
            reply = self._run(name, command)
        except CommandError as exc:  # unknown_command, bad_args, unsupported
            reply = CommandReply.failure(command.cmd_id, exc.code, str(exc))
        if reply is not None:
            self.reply(name, reply)

    def _run(self, name: str, command: Command) -> CommandReply | None:
        cmd_id = command.cmd_id
        match parse_args(name, command):
            case PingArgs():
                pong = PingResult(state=self._state(), models=self.config.models)
                return CommandReply.success(cmd_id, pong)
            case LogsArgs(lines=n):
                lines, truncated = ring().tail(n)
                return CommandReply.success(cmd_id, LogsResult(lines=lines, truncated=truncated))
            case RestartArgs():
                self._after_reply(name, cmd_id, RestartResult(restarting=True), self._restart)
                return None
            case RebootArgs():
                if not self.config.commands.reboot:
                    raise CommandError(
                        ErrorCode.UNSUPPORTED,
                        "reboot is off on this device (commands.reboot: true enables it)",
                    )
                self._after_reply(name, cmd_id, RebootResult(rebooting=True), self._reboot)
                return None
            case AgentUpdateArgs() as args:
                self.updater.check_supported()
                self._spawn(self._agent_update(cmd_id, args), name)
                return None
            case ModelUpdateArgs() | FlTrainArgs() as args:
                self.learning.handle(cmd_id, args)  # replies when the work is done
                return None
        raise CommandError(ErrorCode.UNKNOWN_COMMAND, f"no handler for {name!r}")

    def _after_reply(
        self, name: str, cmd_id: str, result: RestartResult | RebootResult, act: Callable[[], None]
    ) -> None:
        self.reply(name, CommandReply.success(cmd_id, result))
        act()

    def _restart(self) -> None:
        log.warning("restart requested by the hub")
        self._stop(launcher.RESTART_EXIT)

    def _reboot(self) -> None:
        argv = self.config.commands.reboot_command
        log.warning("reboot requested by the hub: %s", " ".join(argv))
        self._spawn(self._run_reboot(), CommandName.REBOOT)

    async def _run_reboot(self) -> None:
        argv = self.config.commands.reboot_command
        try:
            proc = await asyncio.create_subprocess_exec(*argv)
            code = await proc.wait()
        except OSError as exc:
            log.error("reboot command %s failed: %s", argv, exc)
            return
        if code != 0:
            log.error("reboot command %s exited %d", argv, code)

    async def _agent_update(self, cmd_id: str, args: AgentUpdateArgs) -> None:
        name = CommandName.AGENT_UPDATE
        try:
            result = await self.updater.stage(cmd_id, args)
        except Refused as exc:
            log.warning("agent update refused: %s", exc)
            self.reply(name, CommandReply.failure(cmd_id, ErrorCode.COMMAND_FAILED, str(exc)))
            return
        except Exception as exc:
            log.exception("agent update failed")
            self.reply(name, CommandReply.failure(cmd_id, ErrorCode.COMMAND_FAILED, str(exc)))
            return
        if result is not None:  # that version already runs
            self.reply(name, CommandReply.success(cmd_id, result))
            return
        self._stop(launcher.RESTART_EXIT)  # the launcher switches; the new version replies

    async def trial_duty(
        self, connected_for: Callable[[], float], wait_running: Callable[[], Awaitable[Any]]
    ) -> None:
        """Report a rollback the launcher made; on trial, keep this version once it has been
        connected for `updates.settle_s` without a break, or exit (status 1) when
        `updates.trial_s` passes first, so the launcher counts a failed start."""
        if (failure := await asyncio.to_thread(self.trial.rolled_back)) is not None:
            await wait_running()
            self.reply(CommandName.AGENT_UPDATE, failure)
        if not self.trial.on_trial:
            return
        settle, deadline = self.config.updates.settle_s, self.config.updates.trial_s
        try:
            async with asyncio.timeout(deadline):
                while True:
                    await wait_running()
                    left = settle - connected_for()
                    if left <= 0:
                        break
                    await asyncio.sleep(left)  # a reconnect meanwhile starts the count again
        except TimeoutError:
            log.error("not healthy within updates.trial_s (%g s): exiting", deadline)
            self._stop(1)
            return
        success = await asyncio.to_thread(self.trial.keep)
        if success is not None:
            self.reply(CommandName.AGENT_UPDATE, success)

    def _spawn(self, job: Any, name: str) -> None:
        task = asyncio.create_task(job, name=f"cmd:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
