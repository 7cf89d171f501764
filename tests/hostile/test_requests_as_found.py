"""Hostile requests as they were first found, replayed against the real services over HTTP.

Each test names the mishandling it guards against; every request here once got a wrong answer
(a 500, an accepted malformed input, a leaked stream, a body read in full or echoed back).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import select
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from coordinator_core.bolt11 import InvalidInvoiceError, check_invoice, decode_invoice
from coordinator_core.ids import uuid7
from coordinator_core.keymeld.limits import REAL_GATEWAY
from coordinator_core.nip98 import build_auth_header
from tests.hostile.conftest import CLIENT_SECRET, PAYER, LiveService, Stack
from tests.support.invoices import MALFORMED_AMOUNTS, signed_invoice
from tests.support.stack import HEALTH_PATH

CHUNK = 64 * 1024
HASH_B64 = base64.b64encode(b"\x07" * 32).decode()


def control(service: LiveService) -> dict[str, str]:
    return service.bearer


def lnd(stack: Stack) -> tuple[httpx.Client, dict[str, str]]:
    """An HTTP client of the ``payer`` node's LND API and its macaroon header."""
    lightning = stack.devnet["lightning"]
    return lightning.http(), lightning.pins[0].headers


def node_view(stack: Stack, alias: str = PAYER) -> dict[str, Any]:
    """The devnet control API's view of a Lightning node (balance, open streams, …)."""
    lightning = stack.devnet["lightning"]
    with lightning.http() as http:
        view: dict[str, Any] = http.get(f"/devnet/nodes/{alias}", headers=lightning.bearer).json()
        return view


def open_streams(stack: Stack) -> int:
    return int(node_view(stack)["open_streams"])


def balance_msat(stack: Stack) -> int:
    return int(node_view(stack)["balance_msat"])


# -- 1. BOLT11 amounts ---------------------------------------------------------------------------


@pytest.mark.parametrize("amount", MALFORMED_AMOUNTS)
def test_bolt11_amounts_outside_the_grammar_are_refused_before_paying(
    stack: Stack, amount: str
) -> None:
    payment_hash = os.urandom(32)
    invoice = signed_invoice(amount, payment_hash=payment_hash)
    assert invoice.startswith(f"lnbcrt{amount}1")
    with pytest.raises(InvalidInvoiceError):
        decode_invoice(invoice)
    before = balance_msat(stack)
    http, macaroon = lnd(stack)
    with http:
        sent = http.post(
            f"/nodes/{PAYER}/v2/router/send",
            json={"payment_request": invoice, "amt": 1000, "fee_limit_sat": 100},
            headers=macaroon,
        )
        assert "unable to decode payment request" in sent.text
        track = f"/nodes/{PAYER}/v2/router/track/{payment_hash.hex()}"
        tracked = http.get(track, headers=macaroon)
    assert tracked.status_code == 404  # no payment was recorded
    assert balance_msat(stack) == before


def test_bolt11_amount_above_the_money_supply_is_refused() -> None:
    over = signed_invoice("21000001")  # 21,000,001 BTC
    with pytest.raises(InvalidInvoiceError, match="money supply"):
        decode_invoice(over)
    supply = decode_invoice(signed_invoice("21000000"))
    assert supply.amount_msat == 21_000_000 * 10**11
    with pytest.raises(InvalidInvoiceError, match="money supply"):
        check_invoice(
            decode_invoice(signed_invoice("")),
            network="regtest",
            amount_msat=21_000_000 * 10**11 + 1,
            now=time.time(),
        )


# -- 2. NIP-98 headers -----------------------------------------------------------------------------

#: 2.7 kB of nested JSON in an ``Authorization: Nostr`` header, as found (no signature needed).
NESTED_HEADER = "Nostr " + base64.b64encode(b"[" * 1000 + b"]" * 1000).decode()


def _nip98_refusals(url: str) -> list[tuple[str, dict[str, str]]]:
    """(the URL a header is signed for, headers sent with it) for each hostile case as found."""
    path = url.split("/", 3)[3]
    return [
        (url + "#fragment", {}),
        (f"http://evil.example/{path}", {"Host": "evil.example"}),
        (url.replace("http://", "https://"), {"X-Forwarded-Proto": "https"}),
    ]


def _oracle_event() -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "id": str(uuid7()),
        "signing_date": (now + timedelta(days=2)).isoformat(),
        "start_observation_date": now.isoformat(),
        "end_observation_date": (now + timedelta(days=1)).isoformat(),
        "locations": ["KORD"],
        "number_of_values_per_entry": 6,
        "total_allowed_entries": 2,
        "number_of_places_win": 1,
    }


@pytest.mark.parametrize(("target", "method", "path"), [
    ("coordinator", "GET", "/api/v1/entries"),
    ("oracle", "POST", "/oracle/events"),
])  # fmt: skip
def test_nip98_nested_json_fragment_and_chosen_origin_are_refused(
    stack: Stack, target: str, method: str, path: str
) -> None:
    service = stack.service(target)
    body = json.dumps(_oracle_event()).encode() if method == "POST" else b""
    json_headers = {"Content-Type": "application/json"} if body else {}
    with service.http() as http:

        def call(authorization: str, extra: dict[str, str]) -> httpx.Response:
            headers = {"Authorization": authorization, **json_headers, **extra}
            return http.request(method, path, content=body, headers=headers)

        nested = call(NESTED_HEADER, {})
        assert nested.status_code == 400, nested.text
        assert nested.json()["error"]["type"] == "invalid_event_json"
        for signed_for, extra in _nip98_refusals(service.url + path):
            refused = call(build_auth_header(CLIENT_SECRET, signed_for, method, body), extra)
            assert refused.status_code == 401, (signed_for, refused.text)
            assert refused.json()["error"]["type"] == "url_method_mismatch", signed_for
        # The same request signed for the service's own URL is let through.
        signed = call(build_auth_header(CLIENT_SECRET, service.url + path, method, body), {})
        assert signed.status_code == 200, signed.text


# -- 3. Huge integers ----------------------------------------------------------------------------


def test_chain_block_txs_start_index_beyond_int64_is_a_400(stack: Stack) -> None:
    with stack.devnet["chain"].http() as http:
        tip = http.get("/blocks/tip/hash").text
        for start in (2**63, 2**64, 10**30):
            response = http.get(f"/block/{tip}/txs/{start}")
            assert response.status_code == 400, response.text
        assert http.get(f"/block/{tip}/txs/0").status_code == 200


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/v1/invoices", {"value": 2**63 // 1000}),
        ("/v1/invoices", {"value": 2**63 // 1000 + 1}),
        ("/v1/invoices", {"value_msat": 2**63 - 1}),
        ("/v1/invoices", {"value": 21_000_000 * 10**8 + 1}),
        ("/v2/invoices/hodl", {"value": 2**63 // 1000 + 1, "hash": HASH_B64}),
        ("/v2/invoices/hodl", {"value_msat": 2**63 - 1, "hash": HASH_B64}),
    ],
)
def test_lightning_invoice_amounts_beyond_the_money_supply_are_a_400(
    stack: Stack, route: str, body: dict[str, Any]
) -> None:
    http, macaroon = lnd(stack)
    with http:
        response = http.post(f"/nodes/{PAYER}{route}", json=body, headers=macaroon)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == 3  # InvalidArgument
        # Nothing was created: the next invoice's add_index follows the last real one.
        first = http.post(f"/nodes/{PAYER}/v1/invoices", json={"value": 1}, headers=macaroon)
        second = http.post(f"/nodes/{PAYER}/v1/invoices", json={"value": 1}, headers=macaroon)
    assert int(second.json()["add_index"]) == int(first.json()["add_index"]) + 1


def _signed_post(service: LiveService, path: str, body: dict[str, Any]) -> httpx.Response:
    raw = json.dumps(body).encode()
    url = service.url + path
    header = build_auth_header(CLIENT_SECRET, url, "POST", raw)
    with service.http() as http:
        return http.post(
            path,
            content=raw,
            headers={"Authorization": header, "Content-Type": "application/json"},
        )


def test_oracle_huge_values_per_entry_and_list_limit_are_a_400(stack: Stack) -> None:
    oracle = stack.devnet["oracle"]
    now = datetime.now(UTC).replace(microsecond=0)
    event = {
        "id": str(uuid7()),
        "signing_date": (now + timedelta(days=2)).isoformat(),
        "start_observation_date": now.isoformat(),
        "end_observation_date": (now + timedelta(days=1)).isoformat(),
        "locations": ["KORD"],
        "number_of_values_per_entry": 10**30,
        "total_allowed_entries": 2,
        "number_of_places_win": 1,
    }
    response = _signed_post(oracle, "/oracle/events", event)
    assert response.status_code == 400, response.text
    assert "number_of_values_per_entry" in response.text
    with oracle.http() as http:
        for limit in (2**63, 2**64, 10**30):
            listed = http.get("/oracle/events", params={"limit": str(limit)})
            assert listed.status_code == 400, listed.text
        assert http.get(f"/oracle/events/{event['id']}").status_code == 404


# -- 4. Hex ids with a trailing newline ----------------------------------------------------------


def test_hex_ids_with_a_trailing_newline_are_refused(stack: Stack) -> None:
    with stack.devnet["chain"].http() as http:
        tip = http.get("/blocks/tip/hash").text
        txid = http.get(f"/block/{tip}/txid/0").text
        scripthash = "00" * 32
        assert http.get(f"/tx/{txid}").status_code == 200
        assert http.get(f"/scripthash/{scripthash}").status_code == 200
        for path in (f"/tx/{txid}%0a", f"/block/{tip}%0a/status", f"/scripthash/{scripthash}%0a"):
            response = http.get(path)
            assert response.status_code == 400, (path, response.text)


# -- 5. Stream leaks -----------------------------------------------------------------------------


def test_refused_streams_do_not_stay_counted_open(stack: Stack) -> None:
    http, macaroon = lnd(stack)
    with http:
        subscribe = http.get(
            f"/nodes/{PAYER}/v1/invoices/subscribe",
            params={"add_index": "99999999999999999999"},
            headers=macaroon,
        )
        assert subscribe.status_code == 400, subscribe.text
        send = http.post(
            f"/nodes/{PAYER}/v2/router/send",
            json={"payment_request": signed_invoice(""), "amt": 2**63 - 1},
            headers=macaroon,
        )
        assert send.status_code == 400, send.text
        unknown = http.get(f"/nodes/{PAYER}/v2/router/track/{'00' * 32}", headers=macaroon)
        assert unknown.status_code == 404
    assert open_streams(stack) == 0


def test_streams_closed_by_the_client_are_released(stack: Stack) -> None:
    lightning = stack.devnet["lightning"]
    macaroon = lightning.pins[0].headers
    with lightning.http() as http:
        for _ in range(3):
            with http.stream(
                "GET", f"/nodes/{PAYER}/v1/invoices/subscribe", headers=macaroon
            ) as response:
                assert response.status_code == 200
                assert open_streams(stack) >= 1
    deadline = time.monotonic() + 10
    while open_streams(stack) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_streams(stack) == 0


# -- 6. Body limits while streaming --------------------------------------------------------------


def send_chunked(
    url: str, path: str, headers: dict[str, str], total: int
) -> tuple[int, bytes, int]:
    """POST a chunked body of up to ``total`` bytes, stopping as soon as the server answers.

    Returns the status, the response bytes and how many body bytes were written.
    """
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nTransfer-Encoding: chunked\r\n"
        head += "Content-Type: application/json\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        sock.sendall((head + "\r\n").encode())
        chunk = f"{CHUNK:x}\r\n".encode() + b"7" * CHUNK + b"\r\n"
        sent = 0
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
        answer = b""
        sock.settimeout(10)
        try:
            while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
            answer += sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            pass
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, answer, sent


def _body_limit_targets(
    stack: Stack,
) -> list[tuple[LiveService, str, dict[str, str], int, set[int]]]:
    """(service, route reading a body, headers, its limit, the statuses that refuse it)."""
    lightning, chain, oracle, signer = (
        stack.devnet[name] for name in ("lightning", "chain", "oracle", "signer")
    )
    coordinator = stack.coordinator
    with coordinator.http() as http:
        paths = http.get("/openapi.json").json()["paths"]
    posts = [path for path, item in paths.items() if "requestBody" in item.get("post", {})]
    # Without a route taking a body, a POST is refused unread (405).
    coordinator_target = (
        (coordinator, posts[0], {}, 1 << 20, {413})
        if posts
        else (coordinator, HEALTH_PATH, {}, 1 << 20, {405})
    )
    return [
        (lightning, "/devnet/nodes", control(lightning), 64 << 10, {413}),
        (lightning, f"/nodes/{PAYER}/v1/invoices", lightning.pins[0].headers, 64 << 10, {413}),
        (chain, "/tx", {}, 4 << 20, {413}),
        (chain, "/devnet/mine", control(chain), 4 << 20, {413}),
        (oracle, "/devnet/weather", control(oracle), 4 << 20, {413}),
        (oracle, "/oracle/events", {}, 4 << 20, {413}),
        (signer, "/api/v1/keygen/reserve", {}, REAL_GATEWAY.max_body_bytes, {413}),
        coordinator_target,
        (stack.admin, "/api/v1/competitions", stack.admin.bearer, 1 << 20, {413}),
    ]


def test_chunked_bodies_over_the_limit_are_refused_while_streaming(stack: Stack) -> None:
    total = 30 * 1024 * 1024
    for service, path, headers, limit, refusals in _body_limit_targets(stack):
        status, answer, sent = send_chunked(service.url, path, headers, total)
        assert status in refusals, (service.name, path, answer[:300])
        assert sent < total, (service.name, path)  # the server stopped reading early
        assert len(answer) < 1024 and b"7777" not in answer  # nothing echoed back
        assert sent <= limit + 16 * 1024 * 1024  # at most the limit plus socket buffers
        with service.http() as http:  # still serving
            assert http.get(service.openapi_path, headers=service.bearer).status_code == 200


def test_validation_errors_do_not_echo_the_body(stack: Stack) -> None:
    lightning = stack.devnet["lightning"]
    marker = "Z" * 30_000
    with lightning.http() as http:
        response = http.post(
            "/devnet/nodes",
            json={"alias": marker, "balance_sats": marker},
            headers=control(lightning),
        )
    assert response.status_code == 422
    assert "ZZZZ" not in response.text and len(response.text) < 1000


# -- 7. Documentation routes ---------------------------------------------------------------------


def test_docs_pages_are_not_served_and_openapi_is(stack: Stack) -> None:
    for service in stack.services:
        auth = {"Authorization": f"Bearer {service.bearer_token}"} if service.bearer_token else {}
        with service.http() as http:
            for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
                assert http.get(page).status_code == 404, (service.name, page)
            document = http.get(service.openapi_path, headers=auth)
            assert document.status_code == 200, service.name
            assert document.json()["paths"]
            assert "cdn" not in document.text.lower()
    with stack.admin.http() as http:  # the operator API is described to operators only
        assert http.get(stack.admin.openapi_path).status_code == 401
        assert http.get("/openapi.json").status_code == 404


# -- 8. Health under load ------------------------------------------------------------------------


async def test_concurrent_health_probes_read_the_cached_integrity_verdict(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.coordinator.url, timeout=30) as http:
        answers = await asyncio.gather(*(http.get(HEALTH_PATH) for _ in range(50)))
    assert all(answer.status_code == 200 for answer in answers)
    checked = {answer.json()["integrity_checked_at"] for answer in answers}
    assert len(checked) == 1 and None not in checked  # no probe ran an integrity check


def test_health_probes_are_answered_ahead_of_routing_as_the_route_documents(stack: Stack) -> None:
    with stack.coordinator.http() as http:
        documented = http.get("/openapi.json").json()["paths"][HEALTH_PATH]
        got, head = http.get(HEALTH_PATH), http.head(HEALTH_PATH)
    assert "get" in documented
    assert (got.status_code, head.status_code) == (200, 200)
    assert got.json()["status"] == "ok" and head.content == b""
    assert got.headers["cache-control"] == head.headers["cache-control"] == "no-store"
    assert head.headers["content-length"] == str(len(got.content))


def test_integrity_is_rechecked_on_a_timer(stack: Stack) -> None:
    """Last in the module: it corrupts the coordinator's users.db."""
    coordinator = stack.running.coordinator
    coordinator.stop()
    coordinator.start(extra_env={"COORDINATOR__DB__INTEGRITY_CHECK_INTERVAL_SECS": "0.3"})
    with httpx.Client(base_url=coordinator.url, timeout=10) as http:
        first = http.get(HEALTH_PATH).json()["integrity_checked_at"]
        deadline = time.monotonic() + 15
        while http.get(HEALTH_PATH).json()["integrity_checked_at"] == first:
            assert time.monotonic() < deadline, "integrity check never refreshed"
            time.sleep(0.1)
        database = coordinator.root / "data" / "users.db"
        with database.open("r+b") as raw:
            for page in range(1, database.stat().st_size // 4096):
                raw.seek(page * 4096)
                raw.write(b"\xff" * 4096)
        deadline = time.monotonic() + 15
        while (answer := http.get(HEALTH_PATH)).status_code == 200:
            assert time.monotonic() < deadline, "corruption never reported"
            time.sleep(0.1)
    assert answer.status_code == 503
    assert "database users: quick_check failed" in answer.json()["problems"]
