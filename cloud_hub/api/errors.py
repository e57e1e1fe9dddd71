"""Exception handlers: every error leaves as {"error": {"code", "message"[, "detail"]}}."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from cloud_hub.core.errors import HubError, error_body

log = logging.getLogger(__name__)
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _hub_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HubError)
    headers = {"WWW-Authenticate": 'Bearer, Basic realm="edgefleet"'} if exc.status == 401 else None
    return JSONResponse(error_body(exc.code, exc.message, exc.detail), exc.status, headers=headers)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems: list[dict[str, Any]] = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if any(p["type"] == "json_invalid" for p in problems):
        return JSONResponse(
            error_body("malformed_json", "request body is not valid JSON", problems), 400
        )
    summary = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems)
    return JSONResponse(error_body("validation_error", summary, problems), 422)


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        error_body(_HTTP_CODES.get(exc.status_code, "error"), str(exc.detail)),
        exc.status_code,
        headers=exc.headers,
    )


def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    """The client hung up while its body was read (a device's cascade gave up at its timeout):
    nobody is left to answer, and it is not the hub's error; 499 for the access log."""
    log.info("client went away during %s %s", request.method, request.url.path)
    return JSONResponse(error_body("client_closed_request", "client closed the request"), 499)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal", "internal server error"), 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
