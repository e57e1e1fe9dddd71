"""`{d}/cmd/{name}` and `{d}/cmd/{name}/reply`: hub-to-device commands, typed per name.

On the wire a command is `{"cmd_id", "args": {...}}` and its reply `{"cmd_id", "ok",
"result": {...}, "error", "code"}`; the topic names the command. `COMMAND_SPECS` gives each
name its args and result models: senders build with `Command.of(FlTrainArgs(...))`, receivers
read with `parse_args(name, command)`, which raises CommandError carrying the reply's code.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.base import Message, problems
from contract.errors import CommandError, ContractError, ErrorCode
from contract.ids import DeviceId, ModelId, Sha256Hex
from contract.manifest import AgentRelease, ModelManifest


class CommandName(StrEnum):
    PING = "ping"
    MODEL_UPDATE = "model-update"
    FL_TRAIN = "fl-train"
    RESTART = "restart"
    LOGS = "logs"
    REBOOT = "reboot"
    AGENT_UPDATE = "agent-update"


class _Body(BaseModel):
    """Strict types (`"3"` is not a number, as in the schema); unknown keys are ignored so a
    newer sender still reaches an older device. Built on first use (`defer_build`): a device
    that never gets a command does not pay for 14 validators at start-up."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True, defer_build=True)


class PingArgs(_Body):
    """`ping` takes no arguments."""


class PingResult(_Body):
    state: str = Field(description="the agent's state: `running`, `reconnecting`, ...")
    models: list[str] = Field(description="models the device serves")


class ModelUpdateArgs(_Body):
    """`model-update`: download, verify and serve a signed model version."""

    manifest: ModelManifest
    signature: str | None = Field(
        default=None,
        description="the hub's Ed25519 signature of the manifest, base64; a device refuses an "
        "unsigned artifact (and says so in its reply)",
    )
    url: str = Field(description="the artifact's download path on the hub (device credentials)")
    deployment_id: int | None = Field(
        default=None, description="the rollout this belongs to, echoed in the device's report"
    )


class ModelUpdateResult(_Body):
    model: str
    version: str = Field(description="the version now serving")
    seq: int
    unchanged: bool = Field(default=False, description="that seq was already serving")


LABELS_MAX = 1000
"""Operator labels one `fl-train` carries at most (~75 kB of JSON)."""


class FlTrainArgs(_Body):
    """`fl-train`: one phase of a federated round. `keys`: post a fresh X25519 public key to
    `keys_url`; `train`: fetch the weights, train locally, upload the change; `unmask`
    (secure aggregation, after a dropout): post the pairwise secret shared with each `dropped`
    peer to `unmask_url`, so the hub can take those peers' masks out of the sum."""

    round_id: int = Field(ge=1)
    phase: Literal["keys", "train", "unmask"] = "train"
    model: ModelId = Field(description="the model the round trains")
    weights_url: str = Field(description="GET: the round's global weights (float32 LE)")
    upload_url: str = Field(description="POST: this device's encoded update")
    keys_url: str = Field(description="POST: this device's public key (phase `keys`)")
    epochs: int = Field(ge=1, description="local epochs over the device's partition")
    learning_rate: float = Field(gt=0)
    batch_size: int = Field(ge=1)
    quantization: Literal["none", "int8"] = Field(default="none", description="update encoding")
    clip_norm: float | None = Field(
        default=None, gt=0, description="differential privacy: L2 bound of the change"
    )
    secure: bool = Field(default=False, description="secure aggregation: mask the change")
    secure_range: float | None = Field(
        default=None,
        gt=0,
        description="secure aggregation with `quantization` int8: each value of the change is "
        "clipped to +-secure_range and sent in whole steps of secure_range/127, the same steps "
        "on every device",
    )
    weight_by_samples: bool = Field(
        default=True, description="secure aggregation: scale the change by the sample count"
    )
    peers: dict[DeviceId, str] = Field(
        default_factory=dict,
        description="secure aggregation, phase `train`: device id -> X25519 public key, base64",
    )
    seed: int = Field(default=0, ge=0, description="the round's seed")
    dropped: list[DeviceId] = Field(
        default_factory=list,
        description="secure aggregation, phase `unmask`: peers that dropped out after the key "
        "exchange",
    )
    unmask_url: str | None = Field(
        default=None, description="POST, phase `unmask`: this device's secrets with `dropped`"
    )
    labels: dict[Sha256Hex, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        max_length=LABELS_MAX,
        description="phase `train`: the class an operator gave to inputs this device asked the "
        "hub about (the SHA-256 of the input's bytes -> class), newest reviews first; each "
        "replaces the hub's answer in the device's lessons",
    )


class FlTrainResult(_Body):
    round_id: int
    phase: Literal["keys", "train", "unmask"]
    upload_status: int | None = Field(
        default=None, description="phase `train`: the hub's HTTP status for the upload (202)"
    )
    upload_bytes: int | None = Field(default=None, ge=0, description="phase `train`")
    answer: dict[str, Any] | None = Field(
        default=None, description="phase `train`: the hub's JSON answer to the upload"
    )


class RestartArgs(_Body):
    """`restart`: the agent stops cleanly and its launcher (or systemd) starts it again."""


class RestartResult(_Body):
    restarting: bool = Field(description="true: the agent stops after this reply")


LOG_LINES_MAX = 1000
LOG_BYTES_MAX = 64 << 10


class LogsArgs(_Body):
    """`logs`: the agent's last log lines, from memory (nothing is read from disk)."""

    lines: int = Field(default=100, ge=1, le=LOG_LINES_MAX, description="how many, newest last")


class LogsResult(_Body):
    lines: list[str] = Field(description="oldest first")
    truncated: bool = Field(
        description=f"true: fewer lines than asked, to keep the reply under {LOG_BYTES_MAX} bytes"
    )


class RebootArgs(_Body):
    """`reboot`: reboot the device; refused (`unsupported`) unless `commands.reboot` is on."""


class RebootResult(_Body):
    rebooting: bool


class AgentUpdateArgs(_Body):
    """`agent-update`: download a signed agent bundle, install it beside the running version,
    switch to it and keep it only if it comes up healthy (docs/agent-updates.md)."""

    release: AgentRelease
    signature: str = Field(description="the hub's Ed25519 signature of `release`, base64")
    url: str = Field(description="the bundle's download path on the hub (device credentials)")


class AgentUpdateResult(_Body):
    version: str = Field(description="the agent version now running")
    previous: str = Field(description="the version it replaced (kept for a rollback)")


AnyArgs = (
    PingArgs | ModelUpdateArgs | FlTrainArgs | RestartArgs | LogsArgs | RebootArgs | AgentUpdateArgs
)
AnyResult = (
    PingResult
    | ModelUpdateResult
    | FlTrainResult
    | RestartResult
    | LogsResult
    | RebootResult
    | AgentUpdateResult
)


@dataclass(frozen=True)
class CommandSpec:
    """One row of the command table."""

    name: CommandName
    args: type[AnyArgs]
    result: type[AnyResult]  # `CommandReply.result` when ok
    description: str


# fmt: off
COMMAND_SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(CommandName.PING, PingArgs, PingResult,
                "Liveness: the device answers at once with its state and models."),
    CommandSpec(CommandName.MODEL_UPDATE, ModelUpdateArgs, ModelUpdateResult,
                "Serve a signed model version; the reply comes once it serves, or says why not."),
    CommandSpec(CommandName.FL_TRAIN, FlTrainArgs, FlTrainResult,
                "One phase of a federated round; the reply comes when the phase is done."),
    CommandSpec(CommandName.RESTART, RestartArgs, RestartResult,
                "Stop cleanly and be started again by the launcher; replies first."),
    CommandSpec(CommandName.LOGS, LogsArgs, LogsResult,
                "The agent's last log lines from memory, size-capped."),
    CommandSpec(CommandName.REBOOT, RebootArgs, RebootResult,
                "Reboot the device (off unless enabled in the agent's config); replies first."),
    CommandSpec(CommandName.AGENT_UPDATE, AgentUpdateArgs, AgentUpdateResult,
                "Install a signed agent release; the reply comes from the version that runs "
                "after the switch: the new one once healthy, or the old one after a rollback."),
)
# fmt: on

SPEC_BY_NAME: dict[str, CommandSpec] = {s.name.value: s for s in COMMAND_SPECS}


class Command(Message):
    """A command from the hub; `args` follow the model of the name in the topic."""

    cmd_id: str = Field(description="chosen by the sender, echoed in the reply")
    args: dict[str, Any] = Field(default_factory=dict, description="see `<name>-command.json`")

    @classmethod
    def of(cls, args: AnyArgs, cmd_id: str | None = None) -> Self:
        """The command carrying `args`, with a fresh cmd_id unless one is given."""
        body = args.model_dump(mode="json", exclude_none=True)
        return cls(cmd_id=cmd_id or uuid4().hex, args=body)


class CommandReply(Message):
    """The device's answer to one command, with the command's cmd_id."""

    cmd_id: str
    ok: bool
    result: dict[str, Any] = Field(default_factory=dict, description="if ok: the command's result")
    error: str | None = Field(default=None, description="if not ok: the reason, for people")
    code: ErrorCode | None = Field(default=None, description="if not ok: the reason, for programs")

    @classmethod
    def success(cls, cmd_id: str, result: AnyResult) -> Self:
        return cls(cmd_id=cmd_id, ok=True, result=result.model_dump(mode="json", exclude_none=True))

    @classmethod
    def failure(cls, cmd_id: str, code: ErrorCode, error: str) -> Self:
        return cls(cmd_id=cmd_id, ok=False, error=error, code=code)


def name_of(args: AnyArgs) -> CommandName:
    """The command `args` belong to (the `{name}` of the topic to publish them on)."""
    for spec in COMMAND_SPECS:
        if type(args) is spec.args:
            return spec.name
    raise ContractError(f"{type(args).__name__} are not the arguments of any command")


def parse_args(name: str, command: Command) -> AnyArgs:
    """The typed arguments of `command`, received on `cmd/{name}`.

    Raises CommandError with code `unknown_command` or `bad_args`: what to reply instead.
    """
    spec = SPEC_BY_NAME.get(name)
    if spec is None:
        known = ", ".join(SPEC_BY_NAME)
        raise CommandError(ErrorCode.UNKNOWN_COMMAND, f"unknown command {name!r}; known: {known}")
    try:
        return spec.args.model_validate(command.args)
    except ValidationError as exc:
        raise CommandError(ErrorCode.BAD_ARGS, f"bad `{name}` args: {problems(exc)}") from None
