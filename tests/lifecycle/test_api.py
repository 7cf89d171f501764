"""The JSON APIs over HTTP on a devnet stack (``coordinator serve`` as a process).

- The bad-input list: every route given malformed JSON, wrong types, oversize bodies, unknown
  ids, replayed authorizations and other users' objects answers a 4xx with a clear message,
  and nothing changes.
- A winner asking to be paid with malformed, wrong-amount, wrong-network and expired invoices
  is refused with a 4xx and the invoice's error, nothing is paid or recorded, and a correct
  invoice afterwards is paid once.
- ``coordinator admin`` over the admin listener.

Whole competitions over HTTP are the end-to-end scenarios of ``tests/e2e``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from coincurve import PrivateKey

from coordinator.player.api import ApiError
from coordinator_core.ids import uuid7
from coordinator_core.nip98 import build_auth_header
from devnet.lightning.control import DevnetNode
from tests.lifecycle.api_support import (
    create_body,
    enter,
    fund_coordinator,
    picks,
    register,
    state,
    until,
    wait_state,
    weather,
)
from tests.support.invoices import MALFORMED_AMOUNTS, signed_invoice, signer_of
from tests.support.stack import COORDINATOR_NODE, DevnetStack, StackOptions, running_stack
from ticketdlc.bitcoin.tx import Transaction

pytestmark = pytest.mark.slow

DELTA = 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetStack]:
    with running_stack(tmp_path_factory.mktemp("api"), StackOptions(delta=DELTA)) as running:
        yield running


@pytest.fixture
async def live(stack: DevnetStack) -> AsyncIterator[DevnetStack]:
    await fund_coordinator(stack)
    yield stack
    await stack.close_players()


# -- bad input -----------------------------------------------------------------------------------


def nip98(secret: bytes, url: str, method: str, body: bytes | None = None) -> dict[str, str]:
    headers = {"Authorization": build_auth_header(secret, url, method, body)}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return headers


async def test_bad_input_is_refused_and_changes_nothing(live: DevnetStack) -> None:
    stack = live
    admin = stack.admin
    base = stack.coordinator.url
    body = create_body(3, 1, values=1)
    cid = admin.call("POST", "/api/v1/competitions", body, expect=201)["id"]
    alice, mallory = await stack.new_player("alice"), await stack.new_player("mallory")
    record = await alice.player.reserve(uuid.UUID(cid))
    await register(stack, alice, record)
    before = admin.call("GET", f"/api/v1/admin/competitions/{cid}")
    a_secret = alice.identity.nostr_secret
    m_secret = mallory.identity.nostr_secret
    unknown = str(uuid7())
    tickets = f"/api/v1/competitions/{cid}/tickets/{record.ticket_id}"
    entry = alice.player.entry_body(record, picks("Over"))
    huge = b'{"x":"' + b"a" * (2 * 1024 * 1024) + b'"}'

    async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as http:

        async def call(
            method: str,
            path: str,
            *,
            secret: bytes | None = None,
            content: bytes | None = None,
            headers: dict[str, str] | None = None,
        ) -> httpx.Response:
            h = dict(headers or {})
            if secret is not None:
                h.update(nip98(secret, base + path, method, content))
            elif content is not None:
                h["Content-Type"] = "application/json"
            return await http.request(method, path, content=content, headers=h)

        def js(value: Any) -> bytes:
            return json.dumps(value, separators=(",", ":")).encode()

        cases: list[tuple[str, httpx.Response, int, str]] = []

        async def expect(name: str, response: httpx.Response, status: int, text: str) -> None:
            cases.append((name, response, status, text))

        # Operator routes are not on the public listener.
        await expect(
            "create on public",
            await call("POST", "/api/v1/competitions", content=js(body)),
            405,
            "",
        )
        await expect(
            "admin list on public", await call("GET", "/api/v1/admin/competitions"), 404, ""
        )
        await expect("wallet on public", await call("GET", "/api/v1/wallet/balance"), 404, "")
        # Unknown and malformed ids.
        await expect(
            "unknown competition",
            await call("GET", f"/api/v1/competitions/{unknown}"),
            404,
            "not found",
        )
        await expect(
            "malformed id", await call("GET", "/api/v1/competitions/nope"), 400, "competition_id"
        )
        await expect("list limit", await call("GET", "/api/v1/competitions?limit=0"), 400, "limit")
        await expect(
            "list status", await call("GET", "/api/v1/competitions?status=nope"), 400, "status"
        )
        await expect(
            "list cursor", await call("GET", "/api/v1/competitions?cursor=x"), 400, "cursor"
        )
        # Tickets.
        path = f"/api/v1/competitions/{cid}/ticket"
        await expect(
            "ticket unauthenticated",
            await call("POST", path, content=js({})),
            401,
            "no_auth_header",
        )
        await expect(
            "ticket malformed json",
            await call("POST", path, secret=m_secret, content=b"{"),
            400,
            "",
        )
        await expect(
            "ticket wrong type",
            await call("POST", path, secret=m_secret, content=js({"btc_pubkey": 5})),
            400,
            "btc_pubkey",
        )
        await expect(
            "ticket unknown field",
            await call("POST", path, secret=m_secret, content=js({"x": 1})),
            400,
            "x",
        )
        try:
            oversize = await call("POST", path, secret=m_secret, content=huge)
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
            oversize = httpx.Response(413, json={"error": "connection closed at the body limit"})
        await expect("ticket oversize", oversize, 413, "")
        await expect(
            "ticket unknown competition",
            await call(
                "POST", f"/api/v1/competitions/{unknown}/ticket", secret=m_secret, content=js({})
            ),
            404,
            "not found",
        )
        replay = nip98(m_secret, base + tickets + "/status", "GET")
        first = await http.get(tickets + "/status", headers=replay)
        await expect("status of another user's ticket", first, 400, "not reserved by you")
        await expect(
            "replayed authorization",
            await http.get(tickets + "/status", headers=replay),
            401,
            "replayed",
        )
        await expect(
            "unknown ticket",
            await call(
                "GET", f"/api/v1/competitions/{cid}/tickets/{unknown}/status", secret=a_secret
            ),
            404,
            "not found",
        )
        # Registration.
        await expect(
            "slot nonce malformed",
            await call("GET", tickets + "/registration?nonce=zz", secret=a_secret),
            400,
            "nonce",
        )
        await expect(
            "slot of another's ticket",
            await call("GET", tickets + "/registration?nonce=" + "00" * 32, secret=m_secret),
            400,
            "not reserved by you",
        )
        bad_reg = {
            "public_key": "02" + "00" * 31,
            "auth_pubkey": "02" * 33,
            "encrypted_envelope": "00",
        }
        await expect(
            "registration bad key",
            await call("POST", tickets + "/registration", secret=a_secret, content=js(bad_reg)),
            400,
            "public_key",
        )
        await expect(
            "registration of another's ticket",
            await call(
                "POST",
                tickets + "/registration",
                secret=m_secret,
                content=js({**bad_reg, "public_key": "02" * 33}),
            ),
            400,
            "",
        )
        # Entries.
        await expect(
            "entry unauthenticated",
            await call("POST", "/api/v1/entries", content=js(entry)),
            401,
            "",
        )
        await expect(
            "entry unpaid",
            await call("POST", "/api/v1/entries", secret=a_secret, content=js(entry)),
            400,
            "not been paid",
        )
        await expect(
            "entry of another's ticket",
            await call("POST", "/api/v1/entries", secret=m_secret, content=js(entry)),
            400,
            "not reserved by you",
        )
        await expect(
            "entry wrong id",
            await call(
                "POST", "/api/v1/entries", secret=a_secret, content=js({**entry, "id": unknown})
            ),
            400,
            "entry id",
        )
        await expect(
            "entry unknown competition",
            await call(
                "POST",
                "/api/v1/entries",
                secret=a_secret,
                content=js({**entry, "event_id": unknown}),
            ),
            404,
            "not found",
        )
        await expect(
            "entry wrong type",
            await call(
                "POST",
                "/api/v1/entries",
                secret=a_secret,
                content=js({**entry, "expected_observations": "x"}),
            ),
            400,
            "expected_observations",
        )
        await expect(
            "entry bad hex",
            await call(
                "POST",
                "/api/v1/entries",
                secret=a_secret,
                content=js({**entry, "payout_hash": "zz"}),
            ),
            400,
            "payout_hash",
        )
        await expect(
            "entries page",
            await call("GET", "/api/v1/entries?limit=1000", secret=a_secret),
            400,
            "limit",
        )
        # Contract and payout.
        await expect(
            "contract without an entry",
            await call("GET", f"/api/v1/competitions/{cid}/contract", secret=m_secret),
            404,
            "no entry",
        )
        payout = {
            "ticket_id": record.ticket_id,
            "payout_preimage": "00" * 32,
            "ephemeral_private_key": "00" * 32,
            "ln_invoice": "lnbcrt1",
        }
        await expect(
            "payout of an unknown entry",
            await call(
                "POST",
                f"/api/v1/competitions/{cid}/entries/{unknown}/payout",
                secret=a_secret,
                content=js(payout),
            ),
            404,
            "not found",
        )
        await expect(
            "payout malformed",
            await call(
                "POST",
                f"/api/v1/competitions/{cid}/entries/{record.entry_id}/payout",
                secret=a_secret,
                content=js({**payout, "payout_preimage": 1}),
            ),
            400,
            "payout_preimage",
        )
    # Admin listener: authentication and validation.
    async with httpx.AsyncClient(base_url=admin.url, timeout=30, trust_env=False) as raw:
        await expect(
            "admin without token", await raw.post("/api/v1/competitions", json=body), 401, ""
        )
        await expect(
            "admin wrong token",
            await raw.get(
                "/api/v1/admin/competitions", headers={"Authorization": "Bearer " + "x" * 40}
            ),
            401,
            "",
        )
    await expect("create malformed", admin.http.post("/api/v1/competitions", content=b"{"), 400, "")
    await expect(
        "create wrong type",
        admin.request("POST", "/api/v1/competitions", {**body, "entry_fee": "many"}),
        400,
        "entry_fee",
    )
    await expect(
        "create existing id",
        admin.request("POST", "/api/v1/competitions", body),
        409,
        "already exists",
    )
    await expect(
        "create beyond the outcome cap",
        admin.request(
            "POST", "/api/v1/competitions", {**create_body(25, 4), "locations": ["KORD"]}
        ),
        400,
        "max_outcomes",
    )
    await expect(
        "create Δ out of range",
        admin.request("POST", "/api/v1/competitions", create_body(3, 1, delta=2)),
        400,
        "relative_locktime_block_delta",
    )
    await expect(
        "cancel unknown",
        admin.request("DELETE", f"/api/v1/admin/competitions/{unknown}"),
        404,
        "not found",
    )
    await expect(
        "approve unknown",
        admin.request("POST", f"/api/v1/admin/owed-winners/{unknown}/approve-sweep"),
        404,
        "not an owed winner",
    )
    await expect(
        "wallet send malformed",
        admin.request("POST", "/api/v1/wallet/send", {"address_to": 1}),
        400,
        "address_to",
    )

    failures = []
    for name, response, status, text in cases:
        if response.status_code != status or text.lower() not in response.text.lower():
            failures.append(f"{name}: HTTP {response.status_code} {response.text[:200]}")
        elif status >= 400:
            assert "error" in response.json() or response.status_code in (404, 405), name
    assert not failures, "\n".join(failures)
    after = admin.call("GET", f"/api/v1/admin/competitions/{cid}")
    assert after == before  # nothing changed
    assert state(stack, cid) == "created"


# -- payout invoices ------------------------------------------------------------------------------


#: The refusal each bad invoice gets (part of its ``error``): the amount part is checked
#: against BOLT11's grammar and the money supply, then the invoice against the payout.
GRAMMAR, PICO, SUPPLY = "invalid BOLT11 prefix", "whole number of millisatoshis", "money supply"
INVOICE_FAULTS = {
    **{
        f"amount {part!r}": fault
        for part, fault in zip(
            MALFORMED_AMOUNTS,
            [GRAMMAR, GRAMMAR, GRAMMAR, PICO, SUPPLY, GRAMMAR, SUPPLY, SUPPLY],
            strict=True,
        )
    },
    "wrong amount": "differs from expected",
    "wrong network": "invoice is for bitcoin, expected regtest",
    "expired": "invoice expired",
}


async def test_payout_refuses_bad_invoices_then_pays_a_correct_one_once(
    live: DevnetStack,
) -> None:
    """A winner of a competition whose payout window is open asks to be paid with invoices
    that are validly encoded and signed but wrong in one way: each is refused with a 400 and
    ``{"error": <the invoice's fault>}``, no payout is recorded, the coordinator's node attempts
    no payment and the entry stays owed; then a correct invoice of its node is paid, once."""
    stack = live
    body = create_body(2, 1, start_in=dt.timedelta(minutes=5))
    cid = stack.admin.call("POST", "/api/v1/competitions", body, expect=201)["id"]
    winner, loser = await stack.new_player("winner"), await stack.new_player("loser")
    record = await enter(stack, winner, cid, picks("Over", "Under", "Par"))
    await enter(stack, loser, cid, picks("Under", "Over", "Over"))
    await wait_state(stack, cid, "awaiting_attestation", within=180, mine=True)
    stack.post_weather(**weather(body, 75.0))
    stack.attest(cid)
    await wait_state(stack, cid, "outcome_broadcasted", within=120)
    await _mine_until_confirmed(stack, admin_view(stack, cid)["outcome_transaction"])
    owed = await winner.player.owed_sats(record)
    assert owed == body["total_competition_pool"]
    now, payee = int(time.time()), PrivateKey()
    malformed = {part: signed_invoice(part, secret=payee.secret) for part in MALFORMED_AMOUNTS}
    for part, invoice in malformed.items():
        # Encoded and signed correctly: only the amount part can be what gets it refused.
        assert (
            invoice.startswith(f"lnbcrt{part}1") and signer_of(invoice) == payee.public_key.format()
        )
    bad = {
        **{f"amount {part!r}": invoice for part, invoice in malformed.items()},
        "wrong amount": (
            await winner.lightning.create_invoice((owed - 1) * 1000, 600, "short", cltv_expiry=3)
        ).payment_request,
        "wrong network": signed_invoice(f"{owed * 10}n", currency="bc", cltv_expiry=3),
        "expired": signed_invoice(
            f"{owed * 10}n", created_at=now - 7200, expiry_secs=3600, cltv_expiry=3
        ),
    }
    assert set(bad) == set(INVOICE_FAULTS)

    def payout_view() -> dict[str, Any]:
        details = admin_view(stack, cid)
        return {k: details[k] for k in ("state", "payouts", "owed_winners", "tickets")}

    async def my_entry() -> dict[str, Any]:
        return next(e for e in await winner.api.entries() if e["id"] == record.entry_id)

    async with stack.lightning_control() as control:
        node = await control.node(COORDINATOR_NODE)
        before, sent_before, entry_before = payout_view(), await _payments(node), await my_entry()
        refusals: dict[str, tuple[int, Any]] = {}
        for name, invoice in bad.items():
            with pytest.raises(ApiError) as refused:
                await winner.player.request_payout(record, invoice)
            refusals[name] = (refused.value.status, refused.value.body)
        for name, (status, answer) in refusals.items():
            assert status == 400, (name, status, answer)
            assert isinstance(answer, dict) and set(answer) == {"error"}, (name, answer)
            assert INVOICE_FAULTS[name] in answer["error"], (name, answer)
        # Nothing changed: no payout row, no payment attempted, the entry still owed.
        assert payout_view() == before and await my_entry() == entry_before
        assert before["payouts"] == [] and entry_before["payout_status"] is None
        assert await _payments(node) == sent_before
        assert await winner.player.owed_sats(record) == owed

        balance = await winner.balance_msat(control)
        paid = await winner.player.invoice_and_request_payout(record)
        assert paid["amount_sats"] == owed

        async def settled() -> bool:
            return [p["status"] for p in payout_view()["payouts"]] == ["succeeded"]

        await until(settled, within=60)
        assert await winner.balance_msat(control) == balance + owed * 1000
        # Asking again is refused: the entry was paid (or, with every winner paid, the
        # coordinator has already closed the contract cooperatively).
        with pytest.raises(ApiError) as again:
            await winner.player.invoice_and_request_payout(record)
        assert again.value.status == 409, again.value
        assert "already paid out" in again.value.message or "window is over" in again.value.message
        assert len(payout_view()["payouts"]) == 1
        assert await _payments(node) == sent_before + 1


def admin_view(stack: DevnetStack, competition_id: str) -> dict[str, Any]:
    found: dict[str, Any] = stack.admin.call("GET", f"/api/v1/admin/competitions/{competition_id}")
    return found


async def _mine_until_confirmed(stack: DevnetStack, raw_tx_hex: str) -> None:
    txid = Transaction.from_hex(raw_tx_hex).txid_hex()

    async def confirmed() -> bool:
        return bool((await asyncio.to_thread(stack.chain.tx_status, txid)).get("confirmed"))

    async def mine_one() -> None:
        await asyncio.to_thread(stack.mine, 1)

    await until(confirmed, within=60, step=mine_one)


async def _payments(node: DevnetNode) -> int:
    """How many payments ``node`` has attempted (any status), from its LND API."""
    async with httpx.AsyncClient(base_url=node.base_url, timeout=30, trust_env=False) as lnd:
        listed = await lnd.get(
            "/v1/payments",
            params={"include_incomplete": "true", "max_payments": "10000"},
            headers={"Grpc-Metadata-macaroon": node.macaroon.hex()},
        )
        listed.raise_for_status()
        return len(listed.json()["payments"])


def test_admin_command_line(stack: DevnetStack) -> None:
    """``coordinator admin`` over the admin listener: create, list, show, cancel, owed winners,
    wallet; refusals exit non-zero with the listener's message."""
    from click.testing import CliRunner

    from coordinator.cli import cli

    assert stack.coordinator.admin_url is not None
    base = ["admin", "--url", stack.coordinator.admin_url, "--token-file",
            str(stack.admin_token_file)]  # fmt: skip
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(cli, [*base, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    created = json.loads(run("--json", "competitions", "create", "--stations", "KORD",
                             "--entries", "3", "--start", "+40m", "--end", "+1h"))  # fmt: skip
    cid = created["id"]
    assert created["state"] == "created" and created["event_submission"]["locations"] == ["KORD"]
    assert cid in run("competitions", "list", "--status", "open")
    shown = run("competitions", "show", cid)
    assert "keygen_opened_at" in shown and "created_at" in shown
    assert "cancelled" in run("competitions", "cancel", cid, "--yes")
    assert run("owed-winners", "list").strip() == "no owed winners"
    assert "confirmed" in run("wallet", "balance")
    assert run("wallet", "address").strip().startswith("bcrt1")
    dry = json.loads(run("competitions", "create", "--stations", "KORD", "--entries", "3",
                         "--dry-run"))  # fmt: skip
    assert dry["total_competition_pool"] == 3000
    refused = runner.invoke(cli, [*base, "competitions", "create", "--stations", "KORD",
                                  "--entries", "25", "--places", "4"])  # fmt: skip
    assert refused.exit_code != 0 and "max_outcomes" in refused.output
    wrong = runner.invoke(cli, ["admin", "--url", stack.coordinator.admin_url, "--token-file",
                                str(stack.root / "nope"), "competitions", "list"])  # fmt: skip
    assert wrong.exit_code != 0 and "token file" in wrong.output
