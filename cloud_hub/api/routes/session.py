"""Dashboard sign-in: an API key traded for an HttpOnly session cookie, with CSRF protection.

The dashboard is a client of the public API like any other. Signing in checks the key the same
way a Bearer request is checked and opens a session in the database (`dashboard_sessions`,
crud/sessions.py), keyed by the SHA-256 of a random session id that is the only thing the
browser holds (`HttpOnly`, `SameSite=Strict`); the key itself is not kept. Sessions live in SQL
because the hub runs as several replicas behind one proxy (docs/deploy-production.md): a
session opened on one works on all, and survives their restarts.

`SessionMiddleware` resolves a session cookie on an `/api/` request without `Authorization`
to the principal its key has (the key row is read on each request, so a revoked key stops
working at once) and leaves it in the request state; `deps.get_principal` returns it, so
`require_admin`/`require_reader` judge a session exactly as they judge the key.

CSRF: cookie-authenticated requests that change something (POST/PUT/PATCH/DELETE) must carry
`X-CSRF-Token` (handed out at sign-in and by `GET /session`, readable only same-origin) and, if
the browser sends `Origin`, it must be this hub: its scheme as the client sees it (uvicorn
applies `X-Forwarded-Proto` from `forwarded_allow_ips`) and the `Host` header.
"""

import secrets
from http.cookies import SimpleCookie
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from cloud_hub.api.deps import (
    SESSION_STATE,
    DbDep,
    admin_digest,
    api_key_identity,
    bearer_token,
    session_of,
)
from cloud_hub.api.middleware import _send_json
from cloud_hub.core import security
from cloud_hub.core.clock import utcnow
from cloud_hub.core.db import Database
from cloud_hub.core.errors import Unauthorized, error_body
from cloud_hub.crud import sessions as crud
from cloud_hub.crud.sessions import SESSION_TTL_S, ActiveSession
from dashboard import STATIC_DIR

COOKIE = "edgefleet_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The dashboard loads nothing from anywhere but this hub: the browser enforces it too.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(tags=["session"])


def resolve(db: Database, admin_digest: str | None, sid: str) -> ActiveSession | None:
    """The live session for a cookie (blocking: call it from a worker thread). A dead one -
    expired, its key revoked - is deleted here, the only write, once per dead session."""
    now = utcnow()
    with db.session(write=False) as s:
        session, dead = crud.find(s, sid=sid, admin_digest=admin_digest, now=now)
    if dead:
        with db.session(write=True) as s:
            crud.drop(s, sid_hash=security.digest(sid))
    return session


def _cookie(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            jar.load(value.decode("latin-1"))
            if COOKIE in jar:
                return jar[COOKIE].value
    return None


def _same_origin(scope: Scope, headers: dict[bytes, bytes]) -> bool:
    origin = headers.get(b"origin")
    if origin is None:
        return True  # not a browser cross-site request (browsers send Origin on POST & co.)
    host = headers.get(b"host", b"").decode("latin-1")
    return origin.decode("latin-1") == f"{scope.get('scheme', 'http')}://{host}"


class SessionMiddleware:
    """Session cookie -> its principal in the request state, for `/api/` requests without
    their own `Authorization`; CSRF and Origin checks on unsafe methods."""

    def __init__(self, app: ASGIApp, *, hub: FastAPI) -> None:
        self.app, self.hub = app, hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        unsafe = scope["method"] not in SAFE_METHODS
        if unsafe and not _same_origin(scope, headers):
            await _send_json(send, 403, error_body("csrf_failed", "cross-origin request"))
            return
        sid = None if b"authorization" in headers else _cookie(scope["headers"])
        db: Database | None = self.hub.state.db
        session = None
        if sid and db is not None:  # SQL off the event loop, like the routes'
            digest = admin_digest(self.hub)
            session = await anyio.to_thread.run_sync(resolve, db, digest, sid)
        if session is not None:
            csrf = headers.get(CSRF_HEADER.encode(), b"").decode("latin-1")
            if unsafe and not secrets.compare_digest(csrf, session.csrf):
                await _send_json(
                    send,
                    403,
                    error_body("csrf_failed", f"send the session's `{CSRF_HEADER}` header"),
                )
                return
            # in place, as Starlette's `request.state` does (the server copies the state dict
            # per request): a copied scope hid the matched route from the metrics middleware
            # outside, which counted every cookie request as route "unmatched"
            scope.setdefault("state", {})[SESSION_STATE] = session
        await self.app(scope, receive, send)


class SessionPublic(BaseModel):
    role: str
    name: str
    csrf_token: str = Field(description="send as `X-CSRF-Token` on POST/PUT/PATCH/DELETE")
    expires_in_s: int


def _public(session: ActiveSession) -> SessionPublic:
    return SessionPublic(
        role=session.principal.role.value,
        name=session.principal.name,
        csrf_token=session.csrf,
        expires_in_s=max(0, int((session.expires_at - utcnow()).total_seconds())),
    )


@router.post("/session")
def login(
    key: Annotated[str, Depends(bearer_token)], request: Request, response: Response, db: DbDep
) -> SessionPublic:
    """Sign in: send an admin or viewer key as `Authorization: Bearer`; sets the session
    cookie (the hub keeps which key it stands for, not the key)."""
    digest = admin_digest(request.app)
    principal, key_id = api_key_identity(db, digest, key)
    with db.session(write=True) as s:
        if old := request.cookies.get(COOKIE):  # a new sign-in replaces the browser's last one
            crud.drop(s, sid_hash=security.digest(old))
        sid, session = crud.create(
            s, principal=principal, api_key_id=key_id, admin_digest=digest, now=utcnow()
        )
    response.set_cookie(
        COOKIE,
        sid,
        max_age=SESSION_TTL_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return _public(session)


def _signed_in(request: Request) -> ActiveSession:
    session = session_of(request)
    if session is None:
        raise Unauthorized("not signed in", code="missing_credentials")
    return session


@router.get("/session")
def current(request: Request) -> SessionPublic:
    """The signed-in session (and its CSRF token), from the cookie."""
    return _public(_signed_in(request))


@router.delete("/session", status_code=204)
def logout(request: Request, db: DbDep) -> Response:
    """Sign out: the session is deleted, on every replica at once."""
    session = _signed_in(request)
    with db.session(write=True) as s:
        crud.drop(s, sid_hash=session.sid_hash)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _index() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html",
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


def install(app: FastAPI) -> None:
    """Serve the dashboard at `/` (its shell is the login page: no data without a session)
    and resolve session cookies on API requests."""
    app.add_api_route("/", _index, include_in_schema=False, methods=["GET"])
    app.mount("/assets", StaticFiles(directory=STATIC_DIR / "assets"), name="dashboard")
    app.add_middleware(SessionMiddleware, hub=app)
