"""Dashboard sign-in: an API key traded for an HttpOnly session cookie, with CSRF protection.

The dashboard is a client of the public API like any other. Signing in checks the key the same
way a Bearer request is checked and keeps it server-side, keyed by a random session id that is
the only thing the browser holds (`HttpOnly`, `SameSite=Strict`). `SessionMiddleware` turns a
valid session cookie on an `/api/` request into the `Authorization: Bearer` header the routes
already understand, so there is one authorization path and a revoked key stops working at once.

CSRF: cookie-authenticated requests that change something (POST/PUT/PATCH/DELETE) must carry
`X-CSRF-Token` (handed out at sign-in and by `GET /session`, readable only same-origin) and, if
the browser sends `Origin`, it must be this hub. Sessions live in memory: a restarted hub asks
for the key again. The hub runs one process (the SQL writer owns the database), so that is the
whole store.
"""

import secrets
import threading
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from cloud_hub.api.deps import DbDep, _api_key, bearer_token
from cloud_hub.api.middleware import _send_json
from cloud_hub.core.errors import Unauthorized, error_body
from dashboard import STATIC_DIR

COOKIE = "edgefleet_session"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 10_000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The dashboard loads nothing from anywhere but this hub: the browser enforces it too.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(tags=["session"])


@dataclass(frozen=True, slots=True)
class Session:
    key: str
    role: str
    name: str
    csrf: str
    expires: float


class SessionStore:
    """Session id -> the key it stands for; bounded, expiring, thread-safe."""

    def __init__(self, ttl_s: float = SESSION_TTL_S, max_sessions: int = MAX_SESSIONS) -> None:
        self.ttl_s, self.max_sessions = ttl_s, max_sessions
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, *, key: str, role: str, name: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(key, role, name, secrets.token_urlsafe(32), time.time() + self.ttl_s)
        with self._lock:
            if len(self._sessions) >= self.max_sessions:  # drop the oldest
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is not None and session.expires < time.time():
                del self._sessions[sid]
                return None
            return session

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)


def store(app: Any) -> SessionStore:
    sessions: SessionStore = app.state.sessions
    return sessions


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
    """Cookie -> Bearer for `/api/` requests without their own `Authorization`; CSRF checks."""

    def __init__(self, app: ASGIApp, *, sessions: SessionStore) -> None:
        self.app, self.sessions = app, sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        unsafe = scope["method"] not in SAFE_METHODS
        if unsafe and not _same_origin(scope, headers):
            await _send_json(send, 403, error_body("csrf_failed", "cross-origin request"))
            return
        session = (
            None if b"authorization" in headers else self.sessions.get(_cookie(scope["headers"]))
        )
        if session is not None:
            csrf = headers.get(CSRF_HEADER.encode(), b"").decode("latin-1")
            if unsafe and not secrets.compare_digest(csrf, session.csrf):
                await _send_json(
                    send,
                    403,
                    error_body("csrf_failed", f"send the session's `{CSRF_HEADER}` header"),
                )
                return
            bearer = (b"authorization", f"Bearer {session.key}".encode())
            scope = {**scope, "headers": [*scope["headers"], bearer]}
        await self.app(scope, receive, send)


class SessionPublic(BaseModel):
    role: str
    name: str
    csrf_token: str = Field(description="send as `X-CSRF-Token` on POST/PUT/PATCH/DELETE")
    expires_in_s: int


def _public(session: Session) -> SessionPublic:
    return SessionPublic(
        role=session.role,
        name=session.name,
        csrf_token=session.csrf,
        expires_in_s=max(0, int(session.expires - time.time())),
    )


@router.post("/session")
def login(
    key: Annotated[str, Depends(bearer_token)], request: Request, response: Response, db: DbDep
) -> SessionPublic:
    """Sign in: send an admin or viewer key as `Authorization: Bearer`; sets the session
    cookie (the key stays on the hub)."""
    principal = _api_key(db, getattr(request.app.state, "admin_key_digest", None), key)
    sid, session = store(request.app).create(
        key=key, role=principal.role.value, name=principal.name
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


@router.get("/session")
def current(request: Request) -> SessionPublic:
    """The signed-in session (and its CSRF token), from the cookie."""
    session = store(request.app).get(request.cookies.get(COOKIE))
    if session is None:
        raise Unauthorized("not signed in", code="missing_credentials")
    return _public(session)


@router.delete("/session", status_code=204)
def logout(request: Request) -> Response:
    sessions, sid = store(request.app), request.cookies.get(COOKIE)
    if sessions.get(sid) is None:
        raise Unauthorized("not signed in", code="missing_credentials")
    sessions.drop(sid)
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
    and translate session cookies on API requests."""
    app.state.sessions = SessionStore()
    app.add_api_route("/", _index, include_in_schema=False, methods=["GET"])
    app.mount("/assets", StaticFiles(directory=STATIC_DIR / "assets"), name="dashboard")
    app.add_middleware(SessionMiddleware, sessions=app.state.sessions)
