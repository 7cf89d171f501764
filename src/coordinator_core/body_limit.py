"""ASGI middleware bounding request bodies, so untrusted input cannot exhaust memory.

The limit holds whether or not the client announces a length: a ``Content-Length`` over the
limit is refused before the body is read, and a chunked (or under-announced) body is counted
while it streams in. Once it passes the limit the middleware answers 413 itself, tells the
application the client has gone (``http.disconnect``), and drops whatever the application
still tries to send, so the handler never sees the body and no error response repeats it.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coordinator_core.errors import ValidationError
from coordinator_core.validation import decimal_int

log = logging.getLogger(__name__)

_DISCONNECT: Message = {"type": "http.disconnect"}


class BodyLimitMiddleware:
    """Reject request bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lengths = [value for name, value in scope.get("headers", []) if name == b"content-length"]
        if lengths:
            try:
                declared = {decimal_int(v.decode("latin-1"), "Content-Length") for v in lengths}
            except ValidationError:
                await _reject(send, 400, "invalid Content-Length")
                return
            if len(declared) > 1:
                await _reject(send, 400, "conflicting Content-Length headers")
                return
            if declared.pop() > self.max_bytes:
                await _reject(send, 413, self.too_large)
                return
        limited = _LimitedRequest(self, receive, send)
        try:
            await self.app(scope, limited.receive, limited.send)
        except Exception:
            if not limited.refused:
                raise
            # The application failed on the disconnect it was given; the client has its 413.
            log.debug("request refused as too large; handler ended with an error", exc_info=True)

    @property
    def too_large(self) -> str:
        return f"request body over {self.max_bytes} bytes"


class _LimitedRequest:
    """The receive/send pair of one request, counting body bytes as they arrive."""

    def __init__(self, limit: BodyLimitMiddleware, receive: Receive, send: Send) -> None:
        self._limit = limit
        self._receive = receive
        self._send = send
        self._received = 0
        self._started = False
        self.refused = False

    async def receive(self) -> Message:
        if self.refused:
            return _DISCONNECT
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limit.max_bytes:
                self.refused = True
                if not self._started:
                    self._started = True
                    await _reject(self._send, 413, self._limit.too_large)
                return _DISCONNECT
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)


async def _reject(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
