"""Errors of the contract, and the error codes a device reports on its `error` topic."""

from enum import StrEnum


class ContractError(ValueError):
    """A topic or payload does not follow the v1 contract."""


class ErrorCode(StrEnum):
    """Why a device rejected an input; published in `ErrorMessage.code`."""

    BAD_TOPIC = "bad_topic"
    UNKNOWN_MODEL = "unknown_model"
    TOO_LARGE = "too_large"
    BAD_IMAGE = "bad_image"
    BAD_AUDIO = "bad_audio"
    BAD_JSON = "bad_json"
    BAD_COMMAND = "bad_command"
    OVERLOADED = "overloaded"
    INTERNAL = "internal"
