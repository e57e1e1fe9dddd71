"""The agent's exceptions: configuration problems, rejected inputs (each with an ErrorCode) and
failed requests to a site gateway."""

from contract import ErrorCode


class AgentError(Exception):
    """Base class of the agent's own errors."""


class ConfigError(AgentError):
    """The configuration file is unreadable or invalid; the message names key and value."""


class PeerError(AgentError):
    """A request to a site gateway failed (timeout, refusal, the gateway went away)."""


class Rejected(AgentError):
    """An input the agent refuses; published on `{d}/error` with `code`."""

    def __init__(self, code: ErrorCode, message: str, rid: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.rid = rid
