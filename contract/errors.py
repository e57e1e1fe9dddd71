"""Errors of the contract, and the error codes a device reports on its `error` topic and in
command replies."""

from enum import StrEnum


class ContractError(ValueError):
    """A topic or payload does not follow the v1 contract."""


class ErrorCode(StrEnum):
    """Why a device rejected an input (`ErrorMessage.code`) or a command (`CommandReply.code`)."""

    BAD_TOPIC = "bad_topic"
    UNKNOWN_MODEL = "unknown_model"
    TOO_LARGE = "too_large"
    BAD_IMAGE = "bad_image"
    BAD_AUDIO = "bad_audio"
    BAD_JSON = "bad_json"
    BAD_COMMAND = "bad_command"  # not a command envelope: no cmd_id to reply to
    UNKNOWN_COMMAND = "unknown_command"  # reply: no command of that name
    BAD_ARGS = "bad_args"  # reply: the arguments do not fit the command's model
    UNSUPPORTED = "unsupported"  # reply: a known command this device is not set up to run
    COMMAND_FAILED = "command_failed"  # reply: it ran and failed; `error` says why
    OVERLOADED = "overloaded"
    SOURCE_FAILED = "source_failed"  # the device's own camera or microphone cannot be read
    HUB_UNAVAILABLE = "hub_unavailable"  # a step only the hub runs (a command's intent) failed
    INTERNAL = "internal"


class CommandError(ContractError):
    """A command that cannot run as sent; `code` and the message go into its reply."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
