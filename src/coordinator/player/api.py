"""Client of the coordinator's public JSON API, signing every request with NIP-98.

Each authenticated request carries a fresh kind-27235 event over the exact URL, method and the
SHA-256 of the exact body bytes sent (``coordinator_core.nip98``). Answers are read with a size
bound and checked for shape before use; an error answer raises :class:`ApiError` with the
server's status and message.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import urlencode

import httpx

from coordinator_core.errors import CoordinatorError, TransientError, ValidationError
from coordinator_core.http_body import read_bounded
from coordinator_core.keymeld.registration import SealedRegistration, SlotOffer
from coordinator_core.keymeld.wire import WireError
from coordinator_core.nip98 import build_auth_header
from coordinator_core.validation import is_hex

MAX_RESPONSE_BYTES: Final = 32 * 1024 * 1024  # a signed contract of a large competition
API: Final = "/api/v1"


class ApiError(CoordinatorError):
    """The coordinator refused a request; ``status`` is the HTTP status."""

    code = "api_error"

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.body = body


T = TypeVar("T")


async def retry_while_unavailable(
    action: Callable[[], Awaitable[T]], attempts: int = 40, pause_secs: float = 0.5
) -> T:
    """Run ``action`` again while the coordinator answers 503 (a competition's signing session
    still opening, its Lightning node away); any other error, or the last 503, is raised."""
    for _ in range(attempts - 1):
        try:
            return await action()
        except ApiError as exc:
            if exc.status != 503:
                raise
        await asyncio.sleep(pause_secs)
    return await action()


def _error_message(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body.get("detail"))
        if isinstance(error, dict):
            return str(error.get("detail") or error.get("message") or error)
        if error is not None:
            return str(error)
    return str(body)[:300]


def encode_body(body: Any) -> bytes:
    """Compact JSON bytes: exactly what is sent and what the payload hash covers."""
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Ticket:
    """A reserved ticket (``POST …/ticket``): its invoice and the server-assigned entry id."""

    ticket_id: uuid.UUID
    entry_id: uuid.UUID
    payment_request: str
    payment_hash: bytes
    amount_sats: int
    invoice_expires_at: str | None
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, data: Any) -> Ticket:
        if not isinstance(data, dict):
            raise ValidationError("ticket response is not a JSON object")
        try:
            if not is_hex(data["payment_hash"], 32):
                raise ValueError("bad payment hash")
            payment_hash = bytes.fromhex(data["payment_hash"])
            amount = data["amount_sats"]
            if len(payment_hash) != 32 or not isinstance(amount, int) or amount <= 0:
                raise ValueError("bad payment hash or amount")
            request = data["payment_request"]
            if not isinstance(request, str) or not request:
                raise ValueError("no payment request")
            return cls(
                uuid.UUID(str(data["ticket_id"])),
                uuid.UUID(str(data["entry_id"])),
                request,
                payment_hash,
                amount,
                data.get("invoice_expires_at"),
                data,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ValidationError(f"malformed ticket response: {exc}") from None


class CoordinatorApi:
    """The public API of one coordinator, as one nostr identity."""

    def __init__(
        self,
        base_url: str,
        nostr_secret: bytes,
        *,
        timeout_secs: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = nostr_secret
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_secs, connect=min(timeout_secs, 5.0)),
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> CoordinatorApi:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # -- transport ----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        """One request; returns the decoded JSON answer (``None`` for an empty one)."""
        url = self.base_url + path + (f"?{urlencode(query)}" if query else "")
        content = None if body is None else encode_body(body)
        headers = {"Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = build_auth_header(
                self._secret, url, method, content, nonce=os.urandom(16)
            )
        try:
            async with self._http.stream(method, url, content=content, headers=headers) as resp:
                raw = await read_bounded(resp, MAX_RESPONSE_BYTES, f"{method} {path}")
                status = resp.status_code
        except httpx.HTTPError as exc:
            raise TransientError(f"{method} {path}: {exc.__class__.__name__}: {exc}") from exc
        try:
            decoded = json.loads(raw) if raw.strip() else None
        except ValueError:
            decoded = raw[:300].decode("utf-8", errors="replace")
        if status >= 400:
            raise ApiError(status, _error_message(decoded), decoded)
        return decoded

    # -- competitions -------------------------------------------------------------------------

    async def competitions(self, **query: str) -> list[dict[str, Any]]:
        answer = await self.request("GET", f"{API}/competitions", query=query or None, auth=False)
        return _list_of_objects(answer, "competitions")

    async def competition(self, competition_id: uuid.UUID) -> dict[str, Any]:
        answer = await self.request("GET", f"{API}/competitions/{competition_id}", auth=False)
        return _object(answer, "competition")

    async def contract(self, competition_id: uuid.UUID) -> dict[str, Any]:
        answer = await self.request("GET", f"{API}/competitions/{competition_id}/contract")
        return _object(answer, "contract")

    # -- tickets and entries ------------------------------------------------------------------

    async def reserve_ticket(self, competition_id: uuid.UUID) -> Ticket:
        answer = await self.request("POST", f"{API}/competitions/{competition_id}/ticket", body={})
        return Ticket.from_json(answer)

    def _ticket_path(self, competition_id: uuid.UUID, ticket_id: uuid.UUID) -> str:
        return f"{API}/competitions/{competition_id}/tickets/{ticket_id}"

    async def ticket_status(self, competition_id: uuid.UUID, ticket_id: uuid.UUID) -> str:
        answer = await self.request("GET", self._ticket_path(competition_id, ticket_id) + "/status")
        if not isinstance(answer, str):
            raise ValidationError(f"ticket status is not a JSON string: {answer!r}")
        return answer

    async def registration_slot(
        self, competition_id: uuid.UUID, ticket_id: uuid.UUID, nonce: bytes
    ) -> SlotOffer:
        """The ticket's signing-gateway slot, its enclave attested in answer to ``nonce``."""
        path = self._ticket_path(competition_id, ticket_id) + "/registration"
        answer = await self.request("GET", path, query={"nonce": nonce.hex()})
        try:
            return SlotOffer.from_json(answer)
        except WireError as exc:
            raise ValidationError(f"malformed registration slot: {exc}") from None

    async def register(
        self, competition_id: uuid.UUID, ticket_id: uuid.UUID, sealed: SealedRegistration
    ) -> Any:
        """Send the sealed registration (``SealedRegistration`` JSON: the ticket id, both public
        keys, the envelope and the enclave key epoch it was sealed for)."""
        registration = sealed.to_json()
        path = self._ticket_path(competition_id, ticket_id) + "/registration"
        return await self.request("POST", path, body=registration)

    async def submit_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        return _object(await self.request("POST", f"{API}/entries", body=entry), "entry")

    async def entries(self) -> list[dict[str, Any]]:
        return _list_of_objects(await self.request("GET", f"{API}/entries"), "entries")

    async def request_payout(
        self, competition_id: uuid.UUID, entry_id: uuid.UUID, payout: dict[str, Any]
    ) -> Any:
        path = f"{API}/competitions/{competition_id}/entries/{entry_id}/payout"
        return await self.request("POST", path, body=payout)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{what}: expected a JSON object")
    return value


def _list_of_objects(value: Any, what: str) -> list[dict[str, Any]]:
    if isinstance(value, dict):  # a paged answer: {"items": [...]} or similar
        for key in ("items", what, "data"):
            if isinstance(value.get(key), list):
                value = value[key]
                break
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValidationError(f"{what}: expected a JSON list of objects")
    return value
