"""Competitions that never fund: refused at creation, unfilled, signing timed out; and the life
of a ticket whose invoice expired. Every held entry fee goes back to its payer."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from coordinator.domain.ports.lightning import PaymentStatus
from coordinator.player.api import ApiError
from tests.e2e.scenario import RANKED_PICKS, Scenario, picks
from tests.support.stack import StackOptions

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

RESERVATION_SECS = 60
STACK_OPTIONS = StackOptions(
    coordinator_settings={
        "COORDINATOR__COMPETITIONS__RESERVATION_SECS": str(RESERVATION_SECS),
        "COORDINATOR__COMPETITIONS__SIGNING_TIMEOUT_SECS": "40",
    }
)


@pytest.fixture
def s(scenario: Scenario) -> Scenario:
    return scenario


async def test_creation_beyond_the_signers_limits_is_refused_before_any_ticket(
    s: Scenario,
) -> None:
    body = s.terms(25, 3)  # C(25, 3) = 2300 signing subsets; the gateway takes 200
    response = await asyncio.to_thread(s.stack.admin.request, "POST", "/api/v1/competitions", body)
    assert 400 <= response.status_code < 500, response.text
    assert "subset" in response.text.lower(), response.text
    unknown = await s.http.get(f"/api/v1/competitions/{body['id']}")
    assert unknown.status_code == 404
    listed = await s.admin("GET", "/api/v1/admin/competitions?limit=100")
    items = listed["items"] if isinstance(listed, dict) else listed
    assert body["id"] not in {c["id"] for c in items}


async def test_ticket_and_entry_deadlines(s: Scenario) -> None:
    """Both wait on clocks (the entry deadline, the reservation), so they run side by side."""
    await asyncio.gather(unfilled_competition_is_cancelled(s), expired_invoice_frees_ticket(s))


async def unfilled_competition_is_cancelled(s: Scenario) -> None:
    """An unfilled competition is cancelled at its entry deadline; held fees return."""
    run = await s.create(3, 1, entry_window_secs=75)
    entrants = [await s.enter(run, f"u{i}", RANKED_PICKS[i]) for i in range(2)]
    held = [await s.node_msat(e.handle.node.alias) for e in entrants]
    assert all(h < e.balance_before_msat for h, e in zip(held, entrants, strict=True))
    await s.until(lambda: _state_is(s, run, "cancelled"), within=120)
    for entrant in entrants:

        async def refunded(e=entrant) -> bool:
            return await s.node_msat(e.handle.node.alias) == e.balance_before_msat

        await s.until(refunded, within=30)
        payment = await entrant.handle.lightning.track_payment(
            bytes.fromhex(entrant.record.payment_hash)
        )
        assert payment.status is PaymentStatus.FAILED


async def expired_invoice_frees_ticket(s: Scenario) -> None:
    """A ticket whose invoice expired unpaid goes to someone else, with a fresh hash; the old
    invoice can no longer be paid."""
    run = await s.create(2, 1)
    alice = await s.enter(run, "alice", RANKED_PICKS[0], pay=False)
    await s.enter(run, "bob", RANKED_PICKS[1], pay=False)
    carol = await s.stack.new_player("carol", 100_000)
    with pytest.raises(ApiError) as full:
        await carol.player.reserve(uuid.UUID(run.id))
    assert full.value.status == 400 and "full" in full.value.message.lower()
    # Alice's reservation lapses: her invoice can no longer be paid, her ticket is free.
    await asyncio.sleep(RESERVATION_SECS + 2)

    async def carol_gets_a_ticket() -> bool:
        try:
            ticket = await carol.player.reserve(uuid.UUID(run.id))
        except ApiError as exc:
            if exc.status in (400, 503):
                return False
            raise
        carol_ticket.append(ticket)
        return True

    carol_ticket: list = []  # type: ignore[type-arg]
    await s.until(carol_gets_a_ticket, within=60, interval=1.0)
    ticket = carol_ticket[0]
    assert ticket.ticket_id == alice.record.ticket_id  # the same seat…
    assert ticket.payment_hash != alice.record.payment_hash  # …under a fresh ticket hash
    with pytest.raises(ApiError, match="not reserved by you"):  # no longer Alice's
        await alice.handle.api.ticket_status(uuid.UUID(run.id), alice.record.ticket_uuid)
    # A late payment of Alice's old invoice is refused, never held.
    before = await s.node_msat(alice.handle.node.alias)
    answer = await _raw_pay(alice.handle.node.base_url, alice.handle.node.macaroon,
                            alice.record.payment_request)  # fmt: skip
    assert answer.status_code >= 400 or "FAILED" in answer.text, answer.text
    assert await s.node_msat(alice.handle.node.alias) == before
    # Carol registers, pays and enters on that seat.
    await carol.player.register(ticket)
    await carol.player.pay(ticket)
    await carol.player.wait_for_ticket(ticket)
    await carol.player.submit_entry(ticket, picks(RANKED_PICKS[2]))


async def test_signing_timeout_cancels_and_returns_held_fees(s: Scenario) -> None:
    run = await s.create(3, 1)
    entrants = [await s.enter(run, f"t{i}", RANKED_PICKS[i], submit=i < 2) for i in range(3)]
    s.stack.services["signer"].stop()
    try:
        await entrants[2].handle.player.submit_entry(entrants[2].record, picks(RANKED_PICKS[2]))
        await s.until(lambda: _state_is(s, run, "cancelled"), within=180)
        for entrant in entrants:

            async def refunded(e=entrant) -> bool:
                return await s.node_msat(e.handle.node.alias) == e.balance_before_msat

            await s.until(refunded, within=30)
    finally:
        s.stack.services["signer"].start()


async def _state_is(s: Scenario, run, state: str) -> bool:  # type: ignore[no-untyped-def]
    return (await s.competition(run))["state"] == state


async def _raw_pay(base_url: str, macaroon: bytes, invoice: str) -> httpx.Response:
    """Pay through the node's REST API directly, without the client's own expiry check."""
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{base_url}/v2/router/send",
            headers={"Grpc-Metadata-macaroon": macaroon.hex()},
            json={"payment_request": invoice, "timeout_seconds": 5, "fee_limit_sat": "100"},
        )
