"""Every route refuses bad input with a 4xx and a clear message, and changes nothing.

Malformed JSON, wrong types, oversize bodies, unknown and malformed ids, missing or replayed
NIP-98 authorizations, another player's ticket or entry, and the operator routes without (or
with a wrong) token and on the public listener.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from coordinator_core.ids import uuid7
from coordinator_core.nip98 import build_auth_header
from tests.e2e.scenario import RANKED_PICKS, Scenario, picks

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

OVERSIZE = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: bytes | None = None
    who: str | None = "alice"  # whose NIP-98 signs it (None: no Authorization)
    admin: str | None = None  # "token", "wrong" or None (admin listener when set)
    status: tuple[int, ...] = (400, 404, 409, 413, 422)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def cases(c: str, alice_ticket: str, bob_ticket: str, bob_entry: dict[str, Any]) -> list[Case]:
    unknown = str(uuid7())
    t = f"/api/v1/competitions/{c}/tickets"
    return [
        Case("ticket without auth", "POST", f"/api/v1/competitions/{c}/ticket", b"{}", who=None,
             status=(401,)),
        Case("ticket malformed JSON", "POST", f"/api/v1/competitions/{c}/ticket", b"{"),
        Case("ticket wrong types", "POST", f"/api/v1/competitions/{c}/ticket",
             _json({"btc_pubkey": 5})),
        Case("ticket unknown field", "POST", f"/api/v1/competitions/{c}/ticket",
             _json({"surprise": True})),
        Case("ticket oversize", "POST", f"/api/v1/competitions/{c}/ticket", OVERSIZE),
        Case("ticket unknown competition", "POST", f"/api/v1/competitions/{unknown}/ticket", b"{}",
             status=(404,)),
        Case("ticket malformed id", "POST", "/api/v1/competitions/not-a-uuid/ticket", b"{}"),
        Case("status of another's ticket", "GET", f"{t}/{bob_ticket}/status", status=(400, 403,
             404)),
        Case("status of unknown ticket", "GET", f"{t}/{unknown}/status", status=(404,)),
        Case("registration bad nonce", "GET", f"{t}/{alice_ticket}/registration?nonce=zz"),
        Case("registration of another's ticket", "GET",
             f"{t}/{bob_ticket}/registration?nonce={'00' * 32}", status=(400, 403, 404)),
        Case("registration malformed", "POST", f"{t}/{alice_ticket}/registration",
             _json({"public_key": "02", "auth_pubkey": "zz", "encrypted_envelope": ""})),
        Case("entry malformed JSON", "POST", "/api/v1/entries", b"[1,"),
        Case("entry wrong types", "POST", "/api/v1/entries", _json({**bob_entry, "id": 5})),
        Case("entry for another's ticket", "POST", "/api/v1/entries", _json(bob_entry),
             status=(400, 403, 404, 409)),
        Case("entry on an unpaid ticket", "POST", "/api/v1/entries", _json(bob_entry), who="bob",
             status=(400, 409)),
        Case("entry oversize", "POST", "/api/v1/entries", OVERSIZE),
        Case("entries without auth", "GET", "/api/v1/entries", who=None, status=(401,)),
        Case("unknown competition", "GET", f"/api/v1/competitions/{unknown}", who=None,
             status=(404,)),
        Case("malformed competition id", "GET", "/api/v1/competitions/x'or'1", who=None),
        Case("contract not available", "GET", f"/api/v1/competitions/{c}/contract",
             status=(403, 404, 409)),
        Case("payout before attestation", "POST",
             f"/api/v1/competitions/{c}/entries/{bob_entry['id']}/payout",
             _json({"ticket_id": bob_ticket, "payout_preimage": "00" * 32,
                    "ephemeral_private_key": "11" * 32, "ln_invoice": "lnbcrt1"}),
             status=(400, 403, 404, 409)),
        Case("payout malformed", "POST", f"/api/v1/competitions/{c}/entries/{unknown}/payout",
             _json({"ticket_id": 1})),
        Case("operator route on the public listener", "POST", "/api/v1/competitions", b"{}",
             who=None, status=(401, 404, 405)),
        Case("create without token", "POST", "/api/v1/competitions", b"{}", who=None,
             admin="none", status=(401,)),
        Case("create with a wrong token", "POST", "/api/v1/competitions", b"{}", who=None,
             admin="wrong", status=(401,)),
        Case("create malformed", "POST", "/api/v1/competitions", b"{", who=None, admin="token"),
        Case("create wrong types", "POST", "/api/v1/competitions",
             _json({"id": "x", "entry_fee": "lots"}), who=None, admin="token"),
        Case("cancel unknown competition", "DELETE", f"/api/v1/admin/competitions/{unknown}",
             who=None, admin="token", status=(404,)),
        Case("approve an unknown owed winner", "POST",
             f"/api/v1/admin/owed-winners/{unknown}/approve-sweep", who=None, admin="token",
             status=(404,)),
    ]  # fmt: skip


async def test_every_route_refuses_bad_input_and_changes_nothing(scenario: Scenario) -> None:
    s = scenario
    run = await s.create(3, 1)
    alice = await s.enter(run, "alice", RANKED_PICKS[0], pay=False)
    bob = await s.enter(run, "bob", RANKED_PICKS[1], pay=False)
    bob_entry = bob.handle.player.entry_body(bob.record, picks(RANKED_PICKS[1]))
    secrets = {"alice": alice.handle.identity.nostr_secret, "bob": bob.handle.identity.nostr_secret}
    before = await s.details(run)
    stack = s.stack
    async with httpx.AsyncClient(timeout=60) as http:
        failures = []
        for case in cases(run.id, alice.record.ticket_id, bob.record.ticket_id, bob_entry):
            base = stack.coordinator.admin_url if case.admin else stack.coordinator.url
            url = f"{base}{case.path}"
            headers = {"Content-Type": "application/json"}
            if case.who is not None:
                headers["Authorization"] = build_auth_header(
                    secrets[case.who], url, case.method, case.body
                )
            if case.admin == "token":
                headers["Authorization"] = f"Bearer {stack.admin_token}"
            elif case.admin == "wrong":
                headers["Authorization"] = "Bearer " + "w" * 48
            if case.body is OVERSIZE:
                response = await _send_oversize(url, case.method, headers)
            else:
                response = await http.request(case.method, url, content=case.body, headers=headers)
            ok = response.status_code in case.status and _clear_message(response)
            if not ok:
                failures.append(f"{case.name}: {response.status_code} {response.text[:200]}")
        # A replayed authorization is refused the second time.
        url = f"{stack.coordinator.url}/api/v1/entries"
        header = {"Authorization": build_auth_header(secrets["alice"], url, "GET")}
        first = await http.get(url, headers=header)
        replay = await http.get(url, headers=header)
        if first.status_code != 200 or replay.status_code != 401:
            failures.append(f"replay: {first.status_code} then {replay.status_code}")
    assert not failures, "\n".join(failures)
    after = await s.details(run)
    assert _stable(after) == _stable(before)


async def _send_oversize(url: str, method: str, headers: dict[str, str]) -> httpx.Response:
    """Send an oversize body over a raw connection and read the answer the server gives once
    it refuses it (it may close the connection before the whole body was sent)."""
    parts = httpx.URL(url)
    reader, writer = await asyncio.open_connection(parts.host, parts.port)
    head = [f"{method} {parts.raw_path.decode()} HTTP/1.1", f"Host: {parts.host}:{parts.port}",
            f"Content-Length: {len(OVERSIZE)}", "Connection: close"]  # fmt: skip
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    await writer.drain()
    raw = b""
    try:  # a declared oversize length is refused before any body byte is read…
        raw = await asyncio.wait_for(reader.read(65536), timeout=2)
    except TimeoutError:  # …or while the body streams in
        try:
            for offset in range(0, len(OVERSIZE), 65536):
                writer.write(OVERSIZE[offset : offset + 65536])
                await writer.drain()
        except (ConnectionError, OSError):
            pass
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=30)
        except (ConnectionError, OSError):
            break
        if not chunk:
            break
        raw += chunk
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    status = int(status_line.split()[1])
    if b"transfer-encoding: chunked" in rest.lower().split(b"\r\n\r\n")[0]:
        body = _unchunk(body)
    return httpx.Response(status, content=body)


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, body = out + body[:size], body[size + 2 :]
    return out


def _clear_message(response: httpx.Response) -> bool:
    if response.status_code == 404 and not response.content:
        return True  # a bare 404 of an unknown route
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error", body.get("detail")) if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("detail") or error.get("message")
    return isinstance(error, str) and len(error) >= 5


def _stable(details: dict[str, Any]) -> Any:
    """What a refused request must not change."""
    keep = {k: v for k, v in details.items() if k not in ("history",)}
    return json.dumps(keep, sort_keys=True, default=str)


_ = (asyncio, uuid)
