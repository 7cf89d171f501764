"""HTTP plumbing for LND's REST API: macaroon auth, TLS pinning, retries, errors and streams.

LND's REST gateway answers unary calls with one JSON object, and errors with
``{"code": <gRPC code>, "message": ...}`` and an HTTP status derived from the gRPC code.
Server-streaming calls answer newline-delimited JSON, one ``{"result": {...}}`` per message; an
error ends the stream as ``{"error": {"code": ..., "message": ...}}`` (with a non-200 status
when it happens before the first message).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from cryptography import x509

from coordinator_core.errors import (
    ConfigError,
    ConflictError,
    CoordinatorError,
    NotFoundError,
    PermanentError,
    TransientError,
)
from coordinator_core.http_body import read_bounded
from coordinator_core.observed_calls import ObservedTransport

log = logging.getLogger(__name__)

MACAROON_HEADER = "Grpc-Metadata-macaroon"
MAX_RESPONSE_BYTES = 1 << 20
MAX_STREAM_LINE_BYTES = 1 << 20

# gRPC status codes that mean "try again later".
_GRPC_DEADLINE_EXCEEDED = 4
_GRPC_NOT_FOUND = 5
_GRPC_ALREADY_EXISTS = 6
_GRPC_RESOURCE_EXHAUSTED = 8
_GRPC_UNAVAILABLE = 14
_TRANSIENT_GRPC = {_GRPC_DEADLINE_EXCEEDED, _GRPC_RESOURCE_EXHAUSTED, _GRPC_UNAVAILABLE}
_TRANSIENT_HTTP = {429, 502, 503, 504}

# LND reports most failures with gRPC code 2 (Unknown) and a fixed message; these are the ones
# the client reacts to.
_KNOWN_MESSAGES: tuple[tuple[str, type[CoordinatorError]], ...] = (
    ("unable to locate invoice", NotFoundError),
    ("there are no existing invoices", NotFoundError),
    ("payment isn't initiated", NotFoundError),
    ("invoice with payment hash already exists", ConflictError),
    ("invoice already settled", ConflictError),
    ("invoice already canceled", ConflictError),
    ("invoice still open", ConflictError),
    ("invoice is already paid", ConflictError),
    ("payment is in transition", ConflictError),
)


def pinned_ssl_context(cert_pem: bytes) -> ssl.SSLContext:
    """A client TLS context whose only trust anchor is ``cert_pem`` (LND's ``tls.cert``).

    System CAs are not trusted, so only the holder of the pinned certificate's key can present
    a chain that verifies. LND certificates name the hosts LND was configured with, which need
    not match the host the client dials, so the host name is not checked.
    """
    try:
        x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise ConfigError(f"LND TLS certificate is not a PEM certificate: {exc}") from exc
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=cert_pem.decode("ascii"))
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class LndTransport:
    """Authenticated HTTP calls to one LND node."""

    def __init__(
        self,
        base_url: str,
        *,
        macaroon: bytes | None,
        tls_cert_pem: bytes | None,
        timeout_secs: float,
        max_retries: int,
        retry_backoff_secs: float = 0.25,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"LND base URL must be http(s)://host[:port][/path]: {base_url!r}")
        if tls_cert_pem is not None and url.scheme != "https":
            raise ConfigError("an LND TLS certificate is configured but the base URL is not https")
        verify: ssl.SSLContext | bool = (
            pinned_ssl_context(tls_cert_pem) if tls_cert_pem is not None else True
        )
        headers = {MACAROON_HEADER: macaroon.hex()} if macaroon else {}
        self.timeout_secs = timeout_secs
        self.max_retries = max_retries
        self.retry_backoff_secs = retry_backoff_secs
        # trust_env=False: no proxies or CA bundles from the environment; the node is dialled
        # directly and trusted only as configured.
        self._http = httpx.AsyncClient(
            base_url=url,
            headers=headers,
            timeout=httpx.Timeout(timeout_secs),
            trust_env=False,
            transport=ObservedTransport(
                "lightning",
                httpx.AsyncHTTPTransport(
                    verify=verify,
                    trust_env=False,
                    limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
                ),
            ),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One unary call, retried with backoff on transient failures.

        Only idempotent calls go through here (the client makes every one it uses idempotent).
        """
        return await self._retrying(lambda: self._call_once(method, path, json_body, params))

    async def first_result(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The first message of a server-streaming call (then the stream is closed), retried
        like :meth:`call`. Used to read a payment's current state from ``track``."""

        async def once() -> dict[str, Any]:
            async with self.stream(method, path, params=params) as messages:
                async for message in messages:
                    return message
            raise TransientError(f"LND {method} {path}: stream ended without a message")

        return await self._retrying(once)

    async def _retrying(
        self, attempt_call: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return await attempt_call()
            except TransientError as exc:
                if attempt >= self.max_retries:
                    raise
                delay = self.retry_backoff_secs * (2**attempt)
                log.debug("%s; retry %d in %.2fs", exc.message, attempt + 1, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _call_once(
        self,
        method: str,
        path: str,
        json_body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        what = f"{method} {path}"
        try:
            async with self._http.stream(method, path, json=json_body, params=params) as response:
                body = await read_bounded(response, MAX_RESPONSE_BYTES, f"LND {what}")
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc
        if response.status_code != 200:
            raise response_error(response.status_code, body, what)
        return parse_json_object(body, what)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Open a server-streaming call; yields an iterator over the ``result`` objects.

        ``read_timeout`` bounds the wait for each chunk (None waits indefinitely). An
        ``{"error": ...}`` line raises the mapped error.
        """
        what = f"{method} {path}"
        timeout = httpx.Timeout(self.timeout_secs, read=read_timeout)
        try:
            async with self._http.stream(
                method, path, json=json_body, params=params, timeout=timeout
            ) as response:
                if response.status_code != 200:
                    body = await read_bounded(response, MAX_RESPONSE_BYTES, f"LND {what}")
                    raise response_error(response.status_code, body, what)
                yield stream_results(response, what)
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc


async def stream_results(response: httpx.Response, what: str) -> AsyncIterator[dict[str, Any]]:
    """The ``result`` objects of a newline-delimited LND stream."""
    splitter = LineSplitter(MAX_STREAM_LINE_BYTES, what)
    async for chunk in response.aiter_bytes():
        for line in splitter.feed(chunk):
            message = parse_stream_line(line, what)
            if message is not None:
                yield message
    message = parse_stream_line(splitter.rest(), what)
    if message is not None:
        yield message


class LineSplitter:
    """Splits a byte stream into lines, refusing lines longer than ``limit``."""

    def __init__(self, limit: int, what: str) -> None:
        self._buffer = bytearray()
        self._limit = limit
        self._what = what

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        lines: list[bytes] = []
        while (end := self._buffer.find(b"\n")) >= 0:
            lines.append(bytes(self._buffer[:end]))
            del self._buffer[: end + 1]
        if len(self._buffer) > self._limit:
            raise PermanentError(f"LND {self._what}: stream line longer than {self._limit} bytes")
        return lines

    def rest(self) -> bytes:
        """Whatever followed the last newline."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest


def parse_stream_line(line: bytes, what: str) -> dict[str, Any] | None:
    """The ``result`` of one stream line; None for a blank line; raises on ``error``."""
    if not line.strip():
        return None
    message = parse_json_object(line, what)
    error = message.get("error")
    if error:
        if not isinstance(error, dict):
            raise PermanentError(f"LND {what}: malformed stream error {error!r:.200}")
        raise status_error(error, None, what)
    result = message.get("result")
    if not isinstance(result, dict):
        raise PermanentError(f"LND {what}: stream message without a result object")
    return result


def parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    """``body`` as a JSON object, or a PermanentError saying what is wrong."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PermanentError(f"LND {what}: response is not JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise PermanentError(f"LND {what}: response is not a JSON object")
    return value


def response_error(http_status: int, body: bytes, what: str) -> CoordinatorError:
    """The error for a non-200 answer (either error shape LND uses)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        payload = payload["error"]
    if isinstance(payload, dict) and "message" in payload:
        return status_error(payload, http_status, what)
    text = body[:200].decode("utf-8", "replace").strip() or "no body"
    return _classify(http_status, None, f"HTTP {http_status}: {text}", what)


def status_error(status: Mapping[str, Any], http_status: int | None, what: str) -> CoordinatorError:
    """The error for a gRPC status object ``{"code": int, "message": str}``."""
    code = status.get("code")
    grpc_code = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = str(status.get("message", ""))[:500] or "no message"
    return _classify(http_status, grpc_code, message, what)


def _classify(
    http_status: int | None, grpc_code: int | None, message: str, what: str
) -> CoordinatorError:
    text = f"LND {what}: {message}"
    lowered = message.lower()
    for needle, error_class in _KNOWN_MESSAGES:
        if needle in lowered:
            return error_class(text)
    if grpc_code in _TRANSIENT_GRPC or http_status in _TRANSIENT_HTTP:
        return TransientError(text)
    if grpc_code == _GRPC_NOT_FOUND or http_status == 404:
        return NotFoundError(text)
    if grpc_code == _GRPC_ALREADY_EXISTS or http_status == 409:
        return ConflictError(text)
    return PermanentError(text)


def transport_error(exc: httpx.TransportError, what: str) -> CoordinatorError:
    """A failed connection or read: transient, except a certificate the pin does not match."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return PermanentError(
                f"LND {what}: TLS certificate not trusted ({cause.verify_message}); "
                "check lightning.tls_cert_path"
            )
        cause = cause.__cause__ or cause.__context__
    return TransientError(f"LND {what}: {type(exc).__name__}: {exc}")
