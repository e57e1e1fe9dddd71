"""The hub's error hierarchy and its one JSON error shape: {"error": {"code", "message"}}."""

from typing import Any


class HubError(Exception):
    """An error with an HTTP status and a stable machine-readable code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if code is not None:
            self.code = code


class NotFound(HubError):
    status, code = 404, "not_found"


class Conflict(HubError):
    status, code = 409, "conflict"


class Unauthorized(HubError):
    status, code = 401, "unauthorized"


class Forbidden(HubError):
    status, code = 403, "forbidden"


class PayloadTooLarge(HubError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(HubError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(HubError):
    status, code = 422, "invalid_input"


class Unavailable(HubError):
    status, code = 503, "unavailable"


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return {"error": body}
