"""Typed hub -> device commands: the table, building, parsing, replies and their schemas."""

import json
from typing import Any

import jsonschema
import pytest

from contract import (
    COMMAND_SPECS,
    Command,
    CommandError,
    CommandName,
    CommandReply,
    ContractError,
    ErrorCode,
    FlTrainArgs,
    FlTrainResult,
    LogsArgs,
    ModelUpdateArgs,
    PingArgs,
    PingResult,
    RebootArgs,
    RestartArgs,
    decode,
    encode,
    name_of,
    parse_args,
    schemas,
)
from tests.contract.samples import AGENT_UPDATE, FL_TRAIN, MODEL_UPDATE

GENERATED = {name: json.loads(text) for name, text in schemas.generate().items()}
ARGS = {CommandName.PING: PingArgs(), CommandName.MODEL_UPDATE: MODEL_UPDATE,
        CommandName.FL_TRAIN: FL_TRAIN, CommandName.RESTART: RestartArgs(),
        CommandName.LOGS: LogsArgs(lines=50), CommandName.REBOOT: RebootArgs(),
        CommandName.AGENT_UPDATE: AGENT_UPDATE}  # fmt: skip
WIRE_FL_TRAIN = FL_TRAIN.model_dump(mode="json")


def _validator(file: str) -> jsonschema.Draft202012Validator:
    schema = GENERATED[file]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_one_row_per_command_name() -> None:
    assert [spec.name for spec in COMMAND_SPECS] == list(CommandName)
    assert len({spec.args for spec in COMMAND_SPECS}) == len(COMMAND_SPECS)


@pytest.mark.parametrize("name", list(CommandName))
def test_built_command_is_the_old_wire_format_and_parses_back(name: CommandName) -> None:
    # Prepare
    args = ARGS[name]
    # Execute
    command = Command.of(args, "c1")
    wire = json.loads(encode(command))
    # Assert
    assert set(wire) == {"ts", "cmd_id", "args"}
    assert wire["cmd_id"] == "c1"
    assert name_of(args) is name
    assert parse_args(name, decode(Command, encode(command))) == args


def test_a_fresh_cmd_id_unless_one_is_given() -> None:
    first, second = Command.of(PingArgs()), Command.of(PingArgs())
    assert first.cmd_id != second.cmd_id
    assert len(first.cmd_id) == 32


def test_args_a_hub_sent_before_typing_still_parse() -> None:
    """The round service's dict of old: `clip_norm` null, every key spelled out."""
    legacy = {**WIRE_FL_TRAIN, "clip_norm": None, "phase": "keys", "peers": {}}
    args = parse_args("fl-train", Command(cmd_id="c1", args=legacy))
    assert isinstance(args, FlTrainArgs)
    assert (args.phase, args.clip_norm) == ("keys", None)


def test_unknown_keys_are_ignored_so_senders_can_grow() -> None:
    args = parse_args("fl-train", Command(cmd_id="c1", args={**WIRE_FL_TRAIN, "new": 1}))
    assert args == FL_TRAIN


@pytest.mark.parametrize(
    ("name", "change", "problem"),
    [
        ("fl-train", {"epochs": "3"}, "epochs: Input should be a valid integer"),
        ("fl-train", {"learning_rate": "fast"}, "learning_rate: Input should be a valid number"),
        ("fl-train", {"round_id": 0}, "round_id: Input should be greater than or equal to 1"),
        ("fl-train", {"phase": "sleep"}, "phase: Input should be 'keys', 'train' or 'unmask'"),
        ("fl-train", {"secure": "yes"}, "secure: Input should be a valid boolean"),
        ("fl-train", {"peers": {"Not An Id": "k"}}, "peers.Not An Id.[key]: String should match"),
        ("fl-train", {"weights_url": None}, "weights_url: Input should be a valid string"),
        ("model-update", {"manifest": {"model": "m"}}, "manifest.version: Field required"),
        ("model-update", {"url": 7}, "url: Input should be a valid string"),
        ("logs", {"lines": 0}, "lines: Input should be greater than or equal to 1"),
        ("logs", {"lines": 1001}, "lines: Input should be less than or equal to 1000"),
        ("agent-update", {"release": {"version": "1"}}, "release.arch: Field required"),
        ("agent-update", {"signature": None}, "signature: Input should be a valid string"),
    ],
)
def test_wrong_args_are_bad_args_naming_the_field(
    name: str, change: dict[str, Any], problem: str
) -> None:
    base = json.loads(encode(Command.of(ARGS[CommandName(name)], "c1")))["args"]
    with pytest.raises(CommandError) as info:
        parse_args(name, Command(cmd_id="c1", args={**base, **change}))
    assert info.value.code is ErrorCode.BAD_ARGS
    assert str(info.value).startswith(f"bad `{name}` args: ")
    assert problem in str(info.value)


def test_an_integer_is_a_valid_float() -> None:
    args = parse_args("fl-train", Command(cmd_id="c1", args={**WIRE_FL_TRAIN, "learning_rate": 1}))
    assert isinstance(args, FlTrainArgs)
    assert args.learning_rate == 1.0


def test_missing_args_of_a_command_that_needs_some() -> None:
    with pytest.raises(CommandError, match="round_id: Field required") as info:
        parse_args("fl-train", Command(cmd_id="c1"))
    assert info.value.code is ErrorCode.BAD_ARGS
    assert parse_args("ping", Command(cmd_id="c1")) == PingArgs()


def test_unknown_command_says_which_are_known() -> None:
    with pytest.raises(CommandError) as info:
        parse_args("dance", Command(cmd_id="c1"))
    assert info.value.code is ErrorCode.UNKNOWN_COMMAND
    assert str(info.value) == (
        "unknown command 'dance'; known: ping, model-update, fl-train, restart, logs, reboot, "
        "agent-update"
    )
    assert isinstance(info.value, ContractError)


def test_replies_carry_the_result_or_the_code() -> None:
    ok = CommandReply.success("c1", PingResult(state="running", models=["m"]))
    failed = CommandReply.failure("c2", ErrorCode.BAD_ARGS, "bad `fl-train` args: ...")
    assert json.loads(encode(ok)) == {
        "ts": json.loads(encode(ok))["ts"], "cmd_id": "c1", "ok": True,
        "result": {"state": "running", "models": ["m"]},
    }  # fmt: skip
    assert (failed.ok, failed.code, failed.result) == (False, ErrorCode.BAD_ARGS, {})
    assert decode(CommandReply, b'{"cmd_id": "c3", "ok": false, "error": "old"}').code is None


@pytest.mark.parametrize("spec", COMMAND_SPECS, ids=lambda s: s.name)
def test_command_schema_accepts_built_commands_and_refuses_wrong_args(spec: Any) -> None:
    command_file, _ = schemas.command_files(spec)
    validator = _validator(command_file)
    command = json.loads(encode(Command.of(ARGS[spec.name])))
    validator.validate(command)
    if spec.name is CommandName.FL_TRAIN:
        command["args"]["epochs"] = "3"
        with pytest.raises(jsonschema.ValidationError, match="'3' is not of type 'integer'"):
            validator.validate(command)


def test_error_replies_validate_against_every_reply_schema() -> None:
    reply = json.loads(encode(CommandReply.failure("c1", ErrorCode.UNSUPPORTED, "not here")))
    for file in ["command-reply.json", *(schemas.command_files(s)[1] for s in COMMAND_SPECS)]:
        _validator(file).validate(reply)


def test_a_typed_reply_schema_checks_the_result_when_ok() -> None:
    _, reply_file = schemas.command_files(COMMAND_SPECS[2])
    validator = _validator(reply_file)
    result = FlTrainResult(round_id=3, phase="keys")
    validator.validate(json.loads(encode(CommandReply.success("c1", result))))
    wrong = json.loads(encode(CommandReply(cmd_id="c1", ok=True, result={"round_id": "3"})))
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(wrong)


def test_name_of_foreign_args_is_a_contract_error() -> None:
    class Other(PingArgs):
        pass

    with pytest.raises(ContractError, match="not the arguments of any command"):
        name_of(Other())


def test_model_update_args_type_the_manifest() -> None:
    args = parse_args("model-update", Command.of(MODEL_UPDATE))
    assert isinstance(args, ModelUpdateArgs)
    assert (args.manifest.model, args.manifest.seq, args.deployment_id) == ("engine-fault", 2, 5)
