"""The agent's exceptions: configuration problems and rejected inputs (each with an ErrorCode)."""

from contract import ErrorCode


class AgentError(Exception):
    """Base class of the agent's own errors."""


class ConfigError(AgentError):
    """The configuration file is unreadable or invalid; the message names key and value."""


class Rejected(AgentError):
    """An input the agent refuses; published on `{d}/error` with `code`."""

    def __init__(self, code: ErrorCode, message: str, rid: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.rid = rid
