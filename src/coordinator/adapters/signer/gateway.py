"""HTTP client of a keymeld 0.10 gateway: one method per route of the orchestrated API.

* Requests are compact JSON; authenticated routes take a proof *factory*, so every attempt and
  every poll carries a fresh ``v1`` proof (the gateway refuses a reused one).
* Answers are read with a size bound and parsed with the shared wire types; an answer that does
  not parse is a :class:`GatewayProtocolError`.
* Refusals raise :class:`GatewayError` carrying the HTTP status, the gateway's error ``type``
  and its message (409 → :class:`GatewayConflictError`); 429, 5xx and transport failures raise
  :class:`GatewayUnavailableError` (transient), with ``Retry-After`` when given.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Final, TypeVar

import httpx

from coordinator.domain.ports.signer import RegistrationConflictError, SignerRejectedError
from coordinator_core.errors import PermanentError, TransientError
from coordinator_core.http_body import read_bounded
from coordinator_core.keymeld.api import (
    CreateSigningRequest,
    CreateSigningResponse,
    EnclaveKey,
    InitializeRequest,
    InitializeResponse,
    KeygenStatus,
    RegisterRequest,
    RegisterResponse,
    ReserveRequest,
    ReserveResponse,
    SigningStatus,
    SlotsResponse,
)
from coordinator_core.keymeld.wire import Json, WireError, as_object, loads
from coordinator_core.observed_calls import ObservedTransport

log = logging.getLogger(__name__)

T = TypeVar("T")
Proof = Callable[[], str]

MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
MAX_ERROR_BYTES: Final = 64 * 1024
API: Final = "/api/v1"


class GatewayError(SignerRejectedError):
    """The gateway refused a request."""

    def __init__(self, route: str, status: int, error_type: str, message: str) -> None:
        super().__init__(f"keymeld {route}: HTTP {status} {error_type}: {message}")
        self.route = route
        self.status = status
        self.error_type = error_type
        self.detail = message


class GatewayConflictError(GatewayError, RegistrationConflictError):
    """409: a slot claimed by another registration, or a session no longer collecting."""


class GatewayUnavailableError(TransientError):
    """The gateway or one of its enclaves is unreachable, overloaded or failing (retry later)."""

    def __init__(self, route: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"keymeld {route}: {message}")
        self.retry_after = retry_after


class GatewayProtocolError(PermanentError):
    """The gateway answered something that is not a valid keymeld 0.10 answer."""


class KeymeldGateway:
    """Client of the gateway at ``base_url`` (without ``/api/v1``)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_secs: float = 30.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_response_bytes = max_response_bytes
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_secs, connect=min(timeout_secs, 5.0)),
            transport=ObservedTransport("signer", transport),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- routes -----------------------------------------------------------------------------

    async def reserve(self, request: ReserveRequest) -> ReserveResponse:
        """K1 ``POST /keygen/reserve``."""
        return await self._call(
            "K1 reserve", "POST", "/keygen/reserve", ReserveResponse.from_json, request.to_json()
        )

    async def initialize(self, session_id: str, request: InitializeRequest) -> InitializeResponse:
        """K2 ``POST /keygen/{id}/initialize``."""
        return await self._call(
            "K2 initialize",
            "POST",
            f"/keygen/{session_id}/initialize",
            InitializeResponse.from_json,
            request.to_json(),
        )

    async def slots(self, session_id: str, proof: Proof) -> SlotsResponse:
        """K3 ``GET /keygen/{id}/slots``."""
        return await self._call(
            "K3 slots",
            "GET",
            f"/keygen/{session_id}/slots",
            SlotsResponse.from_json,
            headers=lambda: {"X-Session-Signature": proof()},
        )

    async def register(
        self, session_id: str, request: RegisterRequest, proof: Proof
    ) -> RegisterResponse:
        """K4 ``POST /keygen/{id}/participants``."""
        return await self._call(
            "K4 register",
            "POST",
            f"/keygen/{session_id}/participants",
            RegisterResponse.from_json,
            request.to_json(),
            headers=lambda: {"X-Session-Signature": proof()},
        )

    async def keygen_status(self, session_id: str, proof: Proof) -> KeygenStatus:
        """K5 ``GET /keygen/{id}/status``."""
        return await self._call(
            "K5 status",
            "GET",
            f"/keygen/{session_id}/status",
            KeygenStatus.from_json,
            headers=lambda: {"X-Session-Signature": proof()},
        )

    async def create_signing(
        self, request: CreateSigningRequest, proof: Proof
    ) -> CreateSigningResponse:
        """S1 ``POST /signing``."""
        return await self._call(
            "S1 signing",
            "POST",
            "/signing",
            CreateSigningResponse.from_json,
            request.to_json(),
            headers=lambda: {"X-Session-Signature": proof()},
        )

    async def signing_status(
        self, signing_id: str, user_id: str, proof: Proof, max_items: int
    ) -> SigningStatus:
        """S3 ``GET /signing/{id}/status/{user}`` (``batch_items`` read once completed)."""
        return await self._call(
            "S3 status",
            "GET",
            f"/signing/{signing_id}/status/{user_id}",
            lambda value: SigningStatus.from_json(value, max_items, items_when_completed=True),
            headers=lambda: {"X-User-Signature": proof()},
        )

    async def enclave_key(self, enclave_id: int, nonce: bytes) -> EnclaveKey:
        """E2 ``GET /enclaves/{id}/public-key?nonce=…`` (a fresh, challenge-bound attestation)."""
        key = await self._call(
            "E2 enclave key",
            "GET",
            f"/enclaves/{enclave_id}/public-key",
            EnclaveKey.from_json,
            params={"nonce": nonce.hex()},
        )
        if key.enclave_id != enclave_id:
            raise GatewayProtocolError(
                f"E2 answered for enclave {key.enclave_id}, not {enclave_id}"
            )
        if not key.healthy:
            raise GatewayUnavailableError("E2 enclave key", f"enclave {enclave_id} is unhealthy")
        return key

    # -- plumbing ---------------------------------------------------------------------------

    async def _call(
        self,
        route: str,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        body: Json | None = None,
        *,
        headers: Callable[[], dict[str, str]] | None = None,
        params: dict[str, str] | None = None,
    ) -> T:
        request_headers = {"Accept": "application/json"}
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            request_headers["Content-Type"] = "application/json"
        if headers is not None:
            request_headers.update(headers())
        try:
            async with self._http.stream(
                method, API + path, content=content, headers=request_headers, params=params
            ) as response:
                limit = self.max_response_bytes if response.status_code < 400 else MAX_ERROR_BYTES
                raw = await read_bounded(response, limit, f"keymeld {route}")
        except httpx.HTTPError as exc:
            raise GatewayUnavailableError(route, f"transport failure: {exc!r}") from exc
        if response.status_code >= 400:
            raise _error(route, response, raw)
        try:
            return parse(loads(raw, f"keymeld {route}", self.max_response_bytes))
        except WireError as exc:
            raise GatewayProtocolError(f"keymeld {route}: invalid answer: {exc.message}") from None


def _error(route: str, response: httpx.Response, raw: bytes) -> Exception:
    status = response.status_code
    error_type, message = _error_body(raw, status)
    if status == 429:
        retry = response.headers.get("retry-after", "")
        wait = float(retry) if retry.isdigit() else 60.0
        return GatewayUnavailableError(route, f"HTTP 429 {error_type}: {message}", wait)
    if status >= 500:
        return GatewayUnavailableError(route, f"HTTP {status} {error_type}: {message}")
    if status == 409:
        return GatewayConflictError(route, status, error_type, message)
    return GatewayError(route, status, error_type, message)


def _error_body(raw: bytes, status: int) -> tuple[str, str]:
    """``(type, message)`` of an ApiError, a rate-limit body or a plain-text rejection."""
    try:
        obj = as_object(loads(raw, "error", MAX_ERROR_BYTES), "error")
        error = obj.get("error")
        if isinstance(error, dict):
            return str(error.get("type", "error"))[:64], str(error.get("message", ""))[:500]
        if "error_code" in obj:
            return str(obj["error_code"])[:64], str(obj.get("message", ""))[:500]
    except WireError:
        pass
    text = raw.decode("utf-8", "replace").strip()[:500]
    return ("framework" if text else "empty"), (text or f"HTTP {status}")
