"""The NIP-98 gate of the HTTP API: ``caller: NostrCaller = Depends(nostr_caller)``.

Each listener has its own :class:`OriginPolicy` (``app.state.origin_policy``: the URLs its
clients sign); the replay guard is the runtime's (on users.db), shared by every listener of the
process and by every process on the same data folder. The raw body the ``payload`` tag is
checked against is captured by :class:`RawBodyMiddleware` for requests that carry NIP-98, so a
route's own body parsing (JSON or form) is unaffected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coordinator.domain.ports.replay import ReplayGuard
from coordinator_core.http_origin import OriginPolicy, request_target
from coordinator_core.nip98 import SCHEME, Nip98Error, ReplayedEventError, verify_auth_header
from coordinator_core.nostr import npub_encode

RAW_BODY_SCOPE_KEY = "coordinator.raw_body"


@dataclass(frozen=True)
class NostrCaller:
    """The verified signer of a request."""

    pubkey: str  # x-only public key, lower-case hex (tickets, entries)
    npub: str  # bech32 form of the same key (users.db)

    @classmethod
    def from_pubkey(cls, pubkey: str) -> NostrCaller:
        return cls(pubkey, npub_encode(bytes.fromhex(pubkey)))


def peer_address(request: Request) -> str | None:
    """The TCP peer's address (``None`` when the server does not know it)."""
    client = request.scope.get("client")
    return str(client[0]) if client else None


async def raw_body(request: Request) -> bytes:
    """The request body exactly as received."""
    captured = request.scope.get(RAW_BODY_SCOPE_KEY)
    if isinstance(captured, bytes):
        return captured
    return await request.body()


async def verify_nostr_request(
    request: Request, policy: OriginPolicy, replay_guard: ReplayGuard
) -> NostrCaller:
    """Verify the request's NIP-98 header against its URL, method and exact body, then consume
    its event in ``replay_guard`` (the last check, as in :func:`verify_auth_header`)."""
    target = request_target(
        request.scope.get("raw_path") or request.url.path.encode(),
        request.scope.get("query_string", b""),
    )
    urls = policy.expected_urls(peer_address(request), request.headers, target)
    now = int(time.time())
    auth = verify_auth_header(
        request.headers.get("authorization"), urls, request.method, await raw_body(request), now=now
    )
    if not await replay_guard.consume(auth.event_id, auth.created_at, now):
        raise ReplayedEventError()
    return NostrCaller.from_pubkey(auth.pubkey)


async def nostr_caller(request: Request) -> NostrCaller:
    """FastAPI dependency: the NIP-98-authenticated caller, or a 400/401/403/503 auth error."""
    policy: OriginPolicy = request.app.state.origin_policy
    return await verify_nostr_request(request, policy, request.app.state.runtime.replay_guard)


NostrDep = Annotated[NostrCaller, Depends(nostr_caller)]


def has_nostr_auth(request: Request) -> bool:
    """True if the request carries an ``Authorization: Nostr …`` header."""
    return request.headers.get("authorization", "").startswith(SCHEME)


class RawBodyMiddleware:
    """Keep the exact body of NIP-98 requests in the scope, then replay it to the app.

    Install inside the body-size limit, so the body read here is already bounded.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _nostr_header(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its whole body
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        scope[RAW_BODY_SCOPE_KEY] = body
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _nostr_header(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return bool(value.startswith(SCHEME.encode()))
    return False


__all__ = [
    "Nip98Error",
    "NostrCaller",
    "NostrDep",
    "RawBodyMiddleware",
    "has_nostr_auth",
    "nostr_caller",
    "peer_address",
    "raw_body",
    "verify_nostr_request",
]
