"""A player's whole journey in Chromium, on the devnet stack (``coordinator serve`` and every
devnet service over HTTP): an operator creates the competition in the admin pages → a player
signs up → enters with picks → the entry key is sealed to the attested signing enclave → pays
the invoice from a devnet Lightning node → the page shows the entry confirmed → the competition
fills (two entries by the player client) → it is signed and funded → observations and
attestation → the leaderboard ranks the entries, with usernames and the oracle's scores → the
winner checks its payout paths, has a wrong invoice refused, asks for its payout with an
invoice of its devnet node, has a second request refused → paid; "My entries" shows each
step's status. Also: an invoice left unpaid until it expires, and an unpaid winner's on-chain
claim from the browser.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import secrets
import threading
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Page, expect

from coordinator.player.public import expected_terms, published_contract
from coordinator.player.verify import verify_payout_paths
from coordinator_core.entry_keys import derive_entry_keys
from coordinator_core.nip98 import build_auth_header
from tests.e2e.scenario import RANKED_PICKS, CompetitionRun, Scenario
from tests.support.stack import DevnetStack, PlayerHandle
from tests.web.conftest import Recorder, admin_log_in, screenshots
from ticketdlc.bitcoin.address import script_pubkey_to_address
from ticketdlc.bitcoin.script import p2tr_script
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn
from ticketdlc.crypto.secp import Point

PASSWORD = "Str0ng!Passw0rd"
T = TypeVar("T")


class Background:
    """One event loop in a thread for the asynchronous clients (player client, Lightning,
    admin), so they never meet the event loop Playwright's sync API drives on this thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 600) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def background() -> Iterator[Background]:
    runner = Background()
    try:
        yield runner
    finally:
        runner.close()


def _ready(page: Page) -> None:
    expect(page.locator("body[data-ready='true']")).to_be_attached()


def _sign_up(page: Page, username: str) -> None:
    page.locator("#signupButton").click()
    page.locator("#signupUsername").fill(username)
    page.locator("#signupPassword").fill(PASSWORD)
    page.locator("#signupConfirm").fill(PASSWORD)
    page.locator("#signupNext").click()
    page.locator("#signupBackedUp").check()
    page.locator("#signupComplete").click()
    expect(page.locator("#accountName")).to_have_text(username, timeout=60_000)


def _entry_status(page: Page, stack: DevnetStack, entry_id: str) -> str:
    page.goto(stack.coordinator.url + "/entries")
    _ready(page)
    row = page.locator("#entriesDataTable tr", has_text=entry_id[-8:])
    expect(row).to_be_visible(timeout=30_000)
    return row.locator("td[data-label='Status']").inner_text()


def test_whole_journey_on_the_devnet(
    page: Page, stack: DevnetStack, recorder: Recorder, background: Background
) -> None:
    scenario = Scenario(stack)
    try:
        _journey(page, stack, recorder, background, scenario)
    finally:
        background.run(scenario.aclose())
        background.run(stack.close_players())


def _enter_in_the_browser(
    page: Page,
    stack: DevnetStack,
    bg: Background,
    s: Scenario,
    run: CompetitionRun,
    wallet: PlayerHandle,
    shots: bool = False,
) -> tuple[str, str]:
    """Sign up, enter ``run`` with the winning picks, pay from ``wallet``: (username, entry id)."""
    page.set_default_timeout(30_000)
    page.goto(stack.coordinator.url)
    _ready(page)
    username = "j" + secrets.token_hex(5)
    _sign_up(page, username)
    page.goto(f"{stack.coordinator.url}/competitions/{run.id}/entry-form")
    _ready(page)
    for metric, choice in RANKED_PICKS[0].items():
        page.locator(f"button.pick[data-field='KORD_{metric}'][data-choice='{choice}']").click()
    expect(page.locator("#picksCount")).to_have_text("3 of 3 picked")
    page.locator("#submitEntry").click()

    # The entry key is sealed to the attested enclave before the invoice is shown.
    expect(page.locator("#paymentDialog")).to_be_visible(timeout=90_000)
    expect(page.locator("#entryProgress [data-step='register']")).to_have_attribute(
        "data-state", "done"
    )
    invoice = page.locator("#paymentRequest").input_value()
    assert invoice.startswith("lnbcrt")
    if shots:
        screenshots(page, "journey-payment")
    bg.run(
        wallet.lightning.send_payment(
            invoice, amount_msat=None, fee_limit_msat=20_000, timeout_secs=5
        )
    )
    expect(page.locator("#successMessage")).to_be_visible(timeout=60_000)
    expect(page.locator("#paymentDialog")).to_be_hidden()  # closed by itself once paid
    expect(page.locator("#submitEntry")).to_have_text("Entry submitted!")
    expect(page.locator("#entryProgress [data-step='submit']")).to_have_attribute(
        "data-state", "done"
    )
    return username, _my_entry_id(page, stack)


def _minute(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M")


def _admin_creates(
    page: Page, stack: DevnetStack, entries_close_in: dt.timedelta
) -> CompetitionRun:
    """The operator creates a competition of three entries, one winner, on KORD, in the admin
    pages (a tab of its own); the terms are read back from the public API."""
    admin = page.context.new_page()
    admin_log_in(admin, stack)
    now = dt.datetime.now(dt.UTC)
    start = now.replace(second=0, microsecond=0) + entries_close_in + dt.timedelta(minutes=1)
    for field, value in (
        ("#createStart", _minute(start)),
        ("#createEnd", _minute(start + dt.timedelta(minutes=1))),
        ("#createSigning", _minute(start + dt.timedelta(minutes=2))),
        ("#createValues", "3"),
        ("#createEntries", "3"),
        ("#createFee", "10000"),
        ("#createCoordinatorFee", "10"),
        ("#createPlaces", "1"),
    ):
        admin.locator(field).fill(value)
    assert admin.locator("#createDelta").input_value() == str(stack.options.delta)
    admin.locator("#station-KORD").check()
    expect(admin.locator("#stationCount")).to_have_text("1 selected")
    admin.locator("#createSubmit").click()
    created = admin.locator("#createResult .notice")
    expect(created).to_contain_text("Created competition", timeout=30_000)
    competition_id = created.locator("code").inner_text()
    admin.close()
    public = httpx.get(f"{stack.coordinator.url}/api/v1/competitions/{competition_id}").json()
    run = CompetitionRun(competition_id, public["event_submission"])
    assert run.terms["locations"] == ["KORD"] and run.terms["entry_fee"] == 10_000
    return run


def _journey(
    page: Page, stack: DevnetStack, recorder: Recorder, bg: Background, s: Scenario
) -> None:
    bg.run(s.fund_coordinator(1_000_000))
    run = _admin_creates(page, stack, dt.timedelta(minutes=10))
    wallet = bg.run(stack.new_player("browser", 200_000))  # the browser player's LND node
    username, entry_id = _enter_in_the_browser(page, stack, bg, s, run, wallet, shots=True)
    assert "waiting for the competition to fill" in _entry_status(page, stack, entry_id)

    # Two more players fill the competition with the player client; it is signed and funded.
    for index in (1, 2):
        bg.run(s.enter(run, f"p{index}", RANKED_PICKS[index]))
    bg.run(s.reach(run, "funding_broadcasted", within=300))
    page.goto(stack.coordinator.url + "/competitions")
    _ready(page)
    expect(
        page.locator(f"tr[data-competition-id='{run.id}'] td[data-label='Entries']")
    ).to_have_text("3 / 3")
    bg.run(s.reach(run, "awaiting_attestation", mine=True))
    assert "waiting for the oracle" in _entry_status(page, stack, entry_id)

    # The player checks its payout paths in the gateway-signed contract, in the browser; the
    # player client's check of the same contract with the same keys says the same.
    page.locator(f"button.verify-paths[data-entry-id='{entry_id}']").click()
    expect(page.locator("#verifyStatus")).to_contain_text("checks passed", timeout=60_000)
    shown = page.locator("#verifyChecks li[data-check]").all_inner_texts()
    assert shown == _python_check_lines(page, stack, run.id, entry_id)
    screenshots(page, "journey-payout-paths")
    page.keyboard.press("Escape")

    page.goto(f"{stack.coordinator.url}/competitions/{run.id}/leaderboard")
    _ready(page)
    rows = page.locator("#competitionLeaderboardData tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#competitionLeaderboardData tbody")).to_contain_text(username)

    # Observations and attestation; the leaderboard ranks by the oracle's scores.
    bg.run(s.attest(run))
    attested = bg.run(s.reach(run, "outcome_broadcasted"))
    bg.run(s.mine_until_confirmed(attested["outcome_transaction"]))
    first = page.locator("#competitionLeaderboardData tbody tr").first
    for _ in range(20):  # the pages may keep the oracle's empty answer of before for seconds
        page.reload()
        _ready(page)
        if first.locator("td[data-label='Points']").inner_text() != "–":
            break
        page.wait_for_timeout(1000)
    expect(first.locator("td[data-label='Points']")).to_have_text("40")
    expect(first.locator("td.oracle-score")).to_have_text(re.compile(r"^\d+$"))
    expect(first.locator("td[data-label='Player']")).to_have_text(username)
    expect(first.locator("td[data-label='Rank']")).to_have_text("1")
    screenshots(page, "journey-leaderboard")

    # The winner asks for its payout with an invoice of its own node.
    page.goto(stack.coordinator.url + "/payouts")
    _ready(page)
    row = page.locator(f"#payoutsTable tr[data-entry-id='{entry_id}']")
    expect(row).to_be_visible(timeout=30_000)
    expect(row.locator(".payout-status")).to_have_text("Eligible")
    screenshots(page, "journey-payouts")
    amount = int(row.get_attribute("data-amount-sats") or 0)
    assert amount == run.terms["total_competition_pool"]

    def invoice(sats: int) -> str:
        made = bg.run(wallet.lightning.create_invoice(sats * 1000, 600, "payout", cltv_expiry=3))
        return made.payment_request

    def ask(invoice_text: str) -> None:
        page.locator("#payoutInvoice").fill(invoice_text)
        page.locator("#payoutSubmit").click()

    before = bg.run(s.node_msat(wallet.node.alias))
    row.locator("button.request-payout").click()
    # An invoice for a sat less than the share is refused in the browser, before any request.
    ask(invoice(amount - 1))
    expect(page.locator("#payoutError")).to_contain_text(f"your share is exactly {amount}")
    ask(invoice(amount))
    expect(page.locator("#payoutError")).to_be_hidden()
    expect(page.locator("#payoutStatus")).to_contain_text("Payout requested", timeout=60_000)
    # Asking again is refused by the coordinator, and the page says why: the payout is under
    # way, done, or (its only winner paid) the contract already closed.
    recorder.expect_status(409)
    ask(invoice(amount))
    expect(page.locator("#payoutError")).to_contain_text(
        re.compile("in progress|already paid out|payout window is over"), timeout=30_000
    )
    screenshots(page, "journey-payout-refused")

    async def paid() -> bool:
        return any(p["status"] == "succeeded" for p in await s.payouts(run))

    bg.run(s.until(paid, within=120))
    assert bg.run(s.node_msat(wallet.node.alias)) == before + amount * 1000
    page.keyboard.press("Escape")
    page.goto(stack.coordinator.url + "/payouts")
    _ready(page)
    expect(row.locator(".payout-status")).to_have_text("Paid", timeout=30_000)
    assert _entry_status(page, stack, entry_id) == f"Won {amount:,} sats: Paid"
    screenshots(page, "journey-entries")

    assert recorder.foreign_requests() == []


def test_unpaid_invoice_expires_with_a_message(
    page: Page, stack: DevnetStack, background: Background
) -> None:
    """Entries close a minute after the competition is created, so its hold invoice lives
    under a minute: left unpaid, it expires on the coordinator and the page says so."""
    s = Scenario(stack)
    try:
        page.goto(stack.coordinator.url)
        _ready(page)
        _sign_up(page, "x" + secrets.token_hex(5))
        run = background.run(s.create(3, 1, entry_window_secs=62))
        page.goto(f"{stack.coordinator.url}/competitions/{run.id}/entry-form")
        _ready(page)
        page.locator("button.pick[data-field='KORD_temp_high'][data-choice='Over']").click()
        page.locator("#submitEntry").click()
        expect(page.locator("#paymentDialog")).to_be_visible(timeout=60_000)
        assert page.locator("#paymentRequest").input_value().startswith("lnbcrt")
        error = page.locator("#paymentError")
        expect(error).to_have_text(
            "The invoice expired before it was paid. Start again for a new one.", timeout=90_000
        )
        expect(page.locator("#entryProgress [data-step='pay']")).to_have_attribute(
            "data-state", "failed"
        )
        screenshots(page, "entry-invoice-expired")
        page.keyboard.press("Escape")
        expect(page.locator("#entryError")).to_contain_text("The invoice expired")
        expect(page.locator("#submitEntry")).to_be_enabled()
    finally:
        background.run(s.aclose())


def _python_check_lines(
    page: Page, stack: DevnetStack, competition_id: str, entry_id: str
) -> list[str]:
    """The player client's report on the same entry, as the page shows each check."""
    session = json.loads(page.evaluate("sessionStorage.getItem('forecast.session')"))
    tickets = json.loads(page.evaluate("localStorage.getItem('forecast.tickets')"))
    keys = derive_entry_keys(bytes.fromhex(session["seed"]), "regtest", uuid.UUID(entry_id))
    competition = httpx.get(f"{stack.coordinator.url}/api/v1/competitions/{competition_id}").json()
    published = published_contract(competition)
    report = verify_payout_paths(
        published.params,
        published.funding_outpoint,
        published.signatures,
        entry_id=keys.entry_id,
        entry_pubkey=keys.pubkey,
        ticket_hash=bytes.fromhex(tickets[entry_id]),
        payout_hash=keys.payout_hash,
        expected=expected_terms(competition, None),
    )
    assert report.ok, report.render()
    return [f"{'✓' if c.ok else '✗ FAILED'} {c.name}: {c.detail}" for c in report.checks]


def _my_entry_id(page: Page, stack: DevnetStack) -> str:
    page.goto(stack.coordinator.url + "/entries")
    _ready(page)
    link = page.locator("#entriesDataTable button.detail-link").first
    expect(link).to_be_visible(timeout=30_000)
    hx = link.get_attribute("hx-get") or ""
    found = re.fullmatch(r"/entries/([0-9a-f-]{36})/detail", hx)
    assert found, hx
    return found.group(1)


def test_unpaid_winner_claims_on_chain_in_the_browser(
    page: Page, stack: DevnetStack, recorder: Recorder, background: Background
) -> None:
    """The winner never asks for a Lightning payout: once the coordinator has broadcast the
    split transaction, the browser signs the win spend with the entry key and takes the
    winner's share to the winner's own address, step by step as blocks are mined."""
    s = Scenario(stack)
    try:
        _claim(page, stack, recorder, background, s)
    finally:
        background.run(s.aclose())
        background.run(stack.close_players())


def _claim(page: Page, stack: DevnetStack, recorder: Recorder, bg: Background, s: Scenario) -> None:
    bg.run(s.fund_coordinator(1_000_000))
    run = bg.run(s.create(3, 1, entry_fee=10_000, fee_percentage=10))
    wallet = bg.run(stack.new_player("claimer", 200_000))
    _, entry_id = _enter_in_the_browser(page, stack, bg, s, run, wallet)
    for index in (1, 2):
        bg.run(s.enter(run, f"c{index}", RANKED_PICKS[index]))
    bg.run(s.reach(run, "awaiting_attestation", mine=True, within=300))
    bg.run(s.attest(run))
    attested = bg.run(s.reach(run, "outcome_broadcasted"))
    bg.run(s.mine_until_confirmed(attested["outcome_transaction"]))

    script = p2tr_script(Point.from_secret(4242).xonly())
    address = script_pubkey_to_address(script, "bcrt")
    page.goto(stack.coordinator.url + "/payouts")
    _ready(page)
    row = page.locator(f"#payoutsTable tr[data-entry-id='{entry_id}']")
    expect(row).to_be_visible(timeout=30_000)
    row.locator("button.claim-onchain").click()
    page.locator("#claimAddress").fill(address)
    page.locator("#claimFeeRate").fill("3")
    states = []
    for _ in range(120):
        page.locator("#claimSubmit").click()
        status = page.locator("#claimStatus:not(:empty), #claimError:not([hidden])")
        expect(status.first).to_be_visible(timeout=60_000)
        error = page.locator("#claimError")
        assert error.is_hidden(), error.inner_text()
        state = page.locator("#claimStatus").get_attribute("data-state") or ""
        states.append(state)
        if state == "claimed":
            break
        stack.mine(1)
    assert states[-1] == "claimed", states
    assert "broadcast" in states
    screenshots(page, "journey-claim")
    txid = page.locator("#claimStatus").inner_text().rsplit(": ", 1)[-1].rstrip(".")
    paid = sum(o.value for o in s.tx(txid).outputs if o.script_pubkey == script)
    assert paid > 0
    assert recorder.foreign_requests() == []
    _relay_refuses_other_transactions(stack, run.id, s.tx(txid))


def _relay_refuses_other_transactions(stack: DevnetStack, competition_id: str, win: Any) -> None:
    """The chain relay needs a signature and relays only the contract's transactions."""
    url = stack.coordinator.url + "/chain/tx"
    stranger = Transaction(2, [TxIn(OutPoint(os.urandom(32), 0))], win.outputs, 0)
    for tx, signed, status, reason in (
        (win, False, 401, "no_auth_header"),
        (stranger, True, 400, "does not spend this competition's contract"),
    ):
        body = json.dumps({"competition_id": competition_id, "tx": tx.serialize().hex()})
        headers = {"Content-Type": "application/json"}
        if signed:
            headers["Authorization"] = build_auth_header(os.urandom(32), url, "POST", body.encode())
        answer = httpx.post(url, content=body, headers=headers)
        assert answer.status_code == status and reason in answer.text, answer.text
