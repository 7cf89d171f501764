"""Tickets and entry fees on the devnet: concurrent reservations, lapsed invoices and
re-reservation with a fresh hash, late payments, unfilled competitions and operator cancels
(every held fee returned at once), and creation refused for shapes the system can't carry."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest

from coordinator.app.competitions.creation import cancel_competition, check_creation
from coordinator.app.competitions.tickets import reserve_ticket, ticket_status
from coordinator.domain.competitions.states import State
from coordinator.domain.competitions.terms import CreationRefusedError
from coordinator.domain.competitions.tickets import TicketStatus
from coordinator.domain.ports.lightning import InvoiceState, PaymentStatus
from coordinator.domain.ports.signer import SignerCapacityError
from coordinator_core.errors import ConflictError, ValidationError
from tests.lifecycle.factories import make_terms
from tests.lifecycle.world import (
    Devnet,
    World,
    create,
    make_world,
    pay,
    picks,
    run_to,
    submit,
    take_seat,
)


async def balance(player) -> int:  # type: ignore[no-untyped-def]
    return (await player.lightning.channel_balance()).local_msat


async def test_two_hundred_concurrent_reservers_get_the_ten_tickets(world: World) -> None:
    terms = make_terms(10, 1, now=world.now())
    await create(world, terms)
    holders = [f"{i:064x}" for i in range(1, 201)]
    results = await asyncio.gather(
        *(reserve_ticket(world.lc, terms.id, h) for h in holders), return_exceptions=True
    )
    tickets = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(tickets) == 10
    assert len({t.id for t in tickets}) == 10 and len({t.hash for t in tickets}) == 10
    assert all(isinstance(r, ValidationError) and "full" in r.message for r in refused)
    for ticket in tickets:  # each with its own hold invoice for its own hash
        invoice = await world.lc.lightning.lookup_invoice(ticket.hash)
        assert invoice.state is InvoiceState.OPEN
        assert invoice.amount_msat == terms.ticket_price_sats * 1000
    again = await reserve_ticket(world.lc, terms.id, tickets[0].reserved_by or "")
    assert again.id == tickets[0].id and again.payment_request == tickets[0].payment_request


async def test_lapsed_invoice_frees_the_ticket_for_someone_else(world: World) -> None:
    lc = world.lc
    terms = make_terms(3, 1, now=world.now())
    await create(world, terms)
    late, other = await world.player(), await world.player()
    seat = await take_seat(world, late, terms.id)
    others = [await take_seat(world, await world.player(), terms.id) for _ in range(2)]
    assert {s.ticket_id for s in others} != {seat.ticket_id}
    # Full: nobody gets a ticket while the reservations are live.
    with pytest.raises(ValidationError, match="full"):
        await reserve_ticket(lc, terms.id, other.pubkey)
    # The reservation lapses unpaid: the node cancels the invoice and the ticket is free again.
    world.clock_offset = dt.timedelta(seconds=lc.settings.competitions.reservation_secs + 1)
    await world.services.invoices.poll()
    assert await ticket_status(lc, terms.id, seat.ticket_id, late.pubkey) is TicketStatus.EXPIRED
    lapsed = await lc.store.ticket(seat.ticket_id)
    assert lapsed is not None
    seat_hash = lapsed.hash
    assert (await lc.lightning.lookup_invoice(seat_hash)).state is InvoiceState.CANCELED
    before = await balance(late)
    # A payment arriving after the reservation lapsed is refused: the payer keeps its money.
    payment = await late.lightning.send_payment(
        seat.payment_request, amount_msat=None, fee_limit_msat=100_000, timeout_secs=2
    )
    assert payment.status is PaymentStatus.FAILED
    assert await balance(late) == before
    # Someone else takes the ticket, with a fresh preimage and hash (a new invoice).
    taken = await reserve_ticket(lc, terms.id, other.pubkey)
    assert taken.id == seat.ticket_id and taken.entry_id == seat.entry_id
    assert taken.hash != seat_hash and taken.payment_request != seat.payment_request
    assert (await lc.lightning.lookup_invoice(taken.hash)).state is InvoiceState.OPEN
    with pytest.raises(ValidationError, match="not reserved by you"):
        await ticket_status(lc, terms.id, seat.ticket_id, late.pubkey)


async def test_unfilled_competition_is_cancelled_and_held_fees_return(world: World) -> None:
    lc = world.lc
    terms = make_terms(3, 1, now=world.now(), start_in=dt.timedelta(minutes=5))
    await create(world, terms)
    payers = [await world.player(), await world.player()]
    before = [await balance(p) for p in payers]
    seats = [await take_seat(world, p, terms.id) for p in payers]
    for seat in seats:
        await pay(world, seat)
    assert (await world.services.board.rows(terms.id))["rows"] == []
    await submit(world, seats[0], picks("KORD", "Over"))
    board = await world.services.board.rows(terms.id)  # picks stay private before kickoff
    assert board["public"] is False and board["rows"] == [
        {"entry_id": str(seats[0].entry_id), "rank": None}
    ]  # the entry was written: the board was built again
    assert await world.services.board.rows(terms.id) is board  # nothing written since
    held = [await balance(p) for p in payers]
    assert all(h < b for h, b in zip(held, before, strict=True))
    # Entries close with the competition not full: cancelled, every held fee returned now.
    world.clock_offset = terms.start_observation_date - world.now() + dt.timedelta(seconds=1)
    await run_to(world, terms.id, State.CANCELLED, allow_cancel=True)
    c = await lc.store.load(terms.id)
    assert c is not None and c.progress.invoices_released_at is not None
    assert "entries closed" in (c.cancel_reason or "")
    for seat in seats:
        ticket = await lc.store.ticket(seat.ticket_id)
        assert ticket is not None
        assert (await lc.lightning.lookup_invoice(ticket.hash)).state is InvoiceState.CANCELED
    assert [await balance(p) for p in payers] == before
    with pytest.raises(ValidationError, match="closed"):
        await reserve_ticket(lc, terms.id, payers[0].pubkey)


async def test_operator_cancel_returns_held_fees_at_once(world: World) -> None:
    lc = world.lc
    terms = make_terms(3, 1, now=world.now())
    await create(world, terms)
    payer = await world.player()
    before = await balance(payer)
    seat = await take_seat(world, payer, terms.id)
    await pay(world, seat)
    cancelled = await cancel_competition(lc, terms.id, "cancelled by an operator")
    assert cancelled.state is State.CANCELLED
    assert cancelled.progress.invoices_released_at is not None
    assert await balance(payer) == before
    again = await cancel_competition(lc, terms.id, "again")
    assert again.progress.cancelled_at == cancelled.progress.cancelled_at


async def test_creation_refuses_shapes_it_cannot_carry(
    world: World, tmp_path, devnet: Devnet
) -> None:  # type: ignore[no-untyped-def]
    lc = world.lc
    now = world.now()
    base = make_terms(5, 3, now=now)
    check_creation(lc, base)  # fine
    cases = [
        (
            dataclasses.replace(base, relative_locktime_block_delta=2),
            "relative_locktime_block_delta",
        ),
        (dataclasses.replace(base, total_allowed_entries=26), "max_entries"),
        (make_terms(25, 4, now=now), "max_outcomes"),
        (make_terms(5, 3, now=now, start_in=dt.timedelta(hours=20)), "hold_invoice_max_secs"),
        (make_terms(5, 3, now=now, start_in=dt.timedelta(seconds=30)), "start_observation_date"),
        (dataclasses.replace(base, total_competition_pool=1_000), "min_share_sats"),
    ]
    for terms, limit in cases:
        with pytest.raises(CreationRefusedError, match=limit):
            check_creation(lc, terms)
    # The signing service's own limits: a gateway with few subsets refuses (5, 3).
    small = await make_world(
        tmp_path / "small",
        devnet,
        wallet_sats=0,
        signer_limits={"max_subsets": 5, "max_keygen_timeout_secs": 3600},
    )
    try:
        with pytest.raises(SignerCapacityError, match="subsets"):
            check_creation(small.lc, base)
        with pytest.raises(SignerCapacityError):
            await create(small, base)
        assert await small.lc.store.load(base.id) is None  # refused before any ticket exists
        with pytest.raises(CreationRefusedError, match="keygen timeout"):
            check_creation(small.lc, make_terms(3, 1, now=now))
    finally:
        await small.close()
    await create(world, base)
    with pytest.raises(ConflictError, match="already exists"):
        await create(world, base)


async def test_an_entry_sent_again_gets_itself_back_even_once_entries_closed(world: World) -> None:
    terms = make_terms(2, 1, now=world.now(), start_in=dt.timedelta(minutes=5), values=1,
                       locations=("KORD",))  # fmt: skip
    await create(world, terms)
    seats = [await take_seat(world, await world.player(), terms.id) for _ in range(2)]
    for seat in seats:
        await pay(world, seat)
    first = await submit(world, seats[0], picks("KORD", "Over"))
    assert await submit(world, seats[0], picks("KORD", "Over")) == first  # a retry
    with pytest.raises(ValidationError, match="already has an entry"):
        await submit(world, seats[0], picks("KORD", "Under"))  # not the same entry
    last = await submit(world, seats[1], picks("KORD", "Par"))
    c = await world.lc.store.load(terms.id, documents=False)
    assert c is not None and not c.state.accepts_entries  # the last entry closed them
    # The answer to the last entry was lost: sending it again returns it, and changes nothing.
    assert await submit(world, seats[1], picks("KORD", "Par")) == last
    assert len(await world.lc.store.entries_of(terms.id)) == 2
