"""Authorization of the admin listener: ``Depends(require_admin)`` on every operator route.

Three ways in, checked in this order:

* ``Authorization: Bearer <token>`` (the 0600 token file); a wrong bearer is refused and never
  falls back to a cookie.
* ``Authorization: Nostr …`` (NIP-98 signed for this listener's origins) from a configured
  admin npub; any other valid signer gets 403.
* The session cookie set by ``POST /admin/login`` (form field ``token``), valid
  ``[admin] session_ttl_secs``. Requests other than GET/HEAD/OPTIONS must also send the
  session's CSRF token in ``X-CSRF-Token``.

Anonymous requests get 401 with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coordinator.app.auth.admin_token import AdminToken
from coordinator.app.auth.nostr import peer_address, verify_nostr_request
from coordinator_core.errors import AuthError
from coordinator_core.http_origin import OriginPolicy
from coordinator_core.nip98 import SCHEME as NOSTR_SCHEME
from coordinator_core.nostr import pubkey_from_text

SESSION_COOKIE = "coordinator_admin_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class AdminCaller:
    """Who is calling an admin route, and how they proved it."""

    method: Literal["token", "nostr", "session"]
    pubkey: str | None = None  # x-only hex, for ``nostr``


def admin_pubkeys(npubs: list[str]) -> frozenset[str]:
    """Hex x-only keys of configured admin npubs (``npub1…`` or 64 hex digits)."""
    return frozenset(pubkey_from_text(value) for value in npubs)


def _admin_token(request: Request) -> AdminToken:
    token: AdminToken = request.app.state.runtime.admin_token
    return token


def session_cookie_value(token: AdminToken, expires_at: int) -> str:
    return f"{expires_at}.{token.tag('session', str(expires_at))}"


def csrf_token_for(token: AdminToken, session: str) -> str:
    """The CSRF token that goes with a session cookie value."""
    return token.tag("csrf", session)


def valid_session(token: AdminToken, session: str, now: int) -> bool:
    expiry, _, tag = session.partition(".")
    if not expiry.isdigit() or len(expiry) > 12 or int(expiry) < now:
        return False
    return token.check_tag("session", expiry, tag)


def admin_csrf_token(request: Request) -> str | None:
    """For pages: the CSRF token of the request's valid session cookie, if any."""
    session = request.cookies.get(SESSION_COOKIE)
    token = _admin_token(request)
    if session is None or not valid_session(token, session, int(time.time())):
        return None
    return csrf_token_for(token, session)


async def require_admin(request: Request) -> AdminCaller:
    """FastAPI dependency of every admin route (401 anonymous/invalid, 403 not an admin)."""
    token = _admin_token(request)
    authorization = request.headers.get("authorization")
    if authorization:
        if authorization.startswith("Bearer "):
            if token.matches(authorization[len("Bearer ") :].strip()):
                return AdminCaller("token")
            raise AuthError(401, "invalid_token", "wrong admin token", _CHALLENGE)
        if authorization.startswith(NOSTR_SCHEME):
            policy: OriginPolicy = request.app.state.origin_policy
            caller = await verify_nostr_request(
                request, policy, request.app.state.runtime.replay_guard
            )
            if caller.pubkey in request.app.state.admin_pubkeys:
                return AdminCaller("nostr", caller.pubkey)
            raise AuthError(403, "not_admin", "this key is not an admin key")
        raise AuthError(400, "invalid_auth_format", "use Bearer or Nostr authorization")
    session = request.cookies.get(SESSION_COOKIE)
    if session is not None:
        if not valid_session(token, session, int(time.time())):
            raise AuthError(401, "session_expired", "log in again", _CHALLENGE)
        if request.method not in SAFE_METHODS:
            given = request.headers.get(CSRF_HEADER, "")
            if not token.check_tag("csrf", session, given):
                raise AuthError(403, "csrf_failed", "missing or wrong X-CSRF-Token")
        return AdminCaller("session")
    raise AuthError(401, "no_auth_header", "admin authentication required", _CHALLENGE)


AdminDep = Annotated[AdminCaller, Depends(require_admin)]

session_router = APIRouter(tags=["admin session"])


@session_router.post("/admin/login")
async def admin_login(
    request: Request, response: Response, token: Annotated[str, Form(max_length=4096)]
) -> dict[str, str | int]:
    """Exchange the admin token for a session cookie; returns its CSRF token and expiry."""
    request.app.state.login_limiter.check(f"admin-login:{peer_address(request)}")
    admin_token = _admin_token(request)
    if not admin_token.matches(token.strip()):
        raise AuthError(401, "invalid_token", "wrong admin token", _CHALLENGE)
    ttl: int = request.app.state.session_ttl_secs
    expires_at = int(time.time()) + ttl
    session = session_cookie_value(admin_token, expires_at)
    response.set_cookie(
        SESSION_COOKIE, session, max_age=ttl, path="/", secure=True, httponly=True,
        samesite="strict",
    )  # fmt: skip
    return {"csrf_token": csrf_token_for(admin_token, session), "expires_at": expires_at}


@session_router.post("/admin/logout")
async def admin_logout(_: AdminDep, response: Response) -> dict[str, bool]:
    """Clear the session cookie (tokens stay valid until they expire or the token rotates)."""
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return {"logged_out": True}


@session_router.get("/admin/api/whoami")
async def admin_whoami(caller: AdminDep) -> dict[str, str | None]:
    """How the caller authenticated."""
    return {"method": caller.method, "pubkey": caller.pubkey}


_SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]


class AdminHeadersMiddleware:
    """Operator responses are never framed or cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _SECURITY_HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
