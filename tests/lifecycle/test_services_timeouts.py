"""Before funding, a competition is cancelled when signing does not finish in time, and every
held entry fee is returned at once; a payment the node made but the database missed is found
at start-up and never sent again."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from coordinator.adapters.sqlite.competitions import SqliteCompetitionStore
from coordinator.adapters.sqlite.database import Database
from coordinator.app.competitions.payouts import PayoutRequest, request_payout
from coordinator.app.competitions.service import reconcile
from coordinator.config import DbSettings
from coordinator.domain.competitions.records import Payout, PayoutStatus, TxKind
from coordinator.domain.competitions.states import State
from coordinator.domain.ports.lightning import InvoiceState
from coordinator_core.errors import ConflictError
from coordinator_core.ids import uuid7
from tests.lifecycle.factories import make_terms
from tests.lifecycle.world import (
    World,
    attest,
    confirmed_at,
    create,
    enter,
    owed_amount,
    payout_invoice,
    picks,
    run_to,
)

pytestmark = pytest.mark.slow


async def balance(player) -> int:  # type: ignore[no-untyped-def]
    return (await player.lightning.channel_balance()).local_msat


async def test_signing_timeout_cancels_and_returns_every_fee(world: World) -> None:
    lc = world.lc
    terms = make_terms(3, 1, now=world.now(), start_in=dt.timedelta(minutes=30), values=1,
                       locations=("KORD",))  # fmt: skip
    await create(world, terms)
    players = [await world.player() for _ in range(3)]
    before = [await balance(p) for p in players]
    gateway = world.devnet.signer.process
    seats = []
    for player in players:
        seats.append(await enter(world, player, terms.id, picks("KORD", "Over")))
    gateway.stop()  # the signing service goes away before keygen is reported
    try:
        await run_to(world, terms.id, State.CONTRACT_CREATED)
        await world.step()
        c = await lc.store.load(terms.id)
        assert c is not None and c.state is State.CONTRACT_CREATED and c.errors.errors
        world.clock_offset = dt.timedelta(
            seconds=lc.settings.competitions.signing_timeout_secs + 60
        )
        await run_to(world, terms.id, State.CANCELLED, allow_cancel=True)
    finally:
        gateway.start()
    c = await lc.store.load(terms.id)
    assert c is not None and "signing" in (c.cancel_reason or "")
    assert c.progress.invoices_released_at is not None
    assert not [t for t in await lc.store.txs_of(terms.id) if t.kind is TxKind.FUNDING]
    for seat in seats:
        ticket = await lc.store.ticket(seat.ticket_id)
        assert ticket is not None
        assert (await lc.lightning.lookup_invoice(ticket.hash)).state is InvoiceState.CANCELED
    assert [await balance(p) for p in players] == before
    # The funding coins were unlocked: the wallet can fund the next competition.
    outputs = await lc.wallet.outputs()
    assert sum(o.value for o in outputs) >= terms.total_competition_pool


async def test_reconciliation_records_a_payment_the_database_missed(world: World) -> None:
    lc = world.lc
    terms = make_terms(3, 1, now=world.now(), start_in=dt.timedelta(minutes=30), values=1,
                       locations=("KORD",))  # fmt: skip
    await create(world, terms)
    choices = [picks("KORD", "Over"), picks("KORD", "Under"), picks("KORD", "Under")]
    seats = [await enter(world, await world.player(), terms.id, c) for c in choices]
    await run_to(world, terms.id, State.AWAITING_ATTESTATION, mine=True)
    attest(world, terms, 75.0)
    await run_to(world, terms.id, State.OUTCOME_BROADCASTED)
    await world.eventually(lambda: _outcome_confirmed(world, terms.id), mine=True)
    winner = seats[0]
    amount = await owed_amount(world, winner)
    invoice = await payout_invoice(world, winner)
    decoded = lc.lightning.decode_invoice(invoice)
    # The coordinator paid, then died before recording the result: its row is still pending.
    await lc.store.reveal_secrets(
        winner.entry_id,
        lc.seal_entry_secret("entry-key", winner.entry_id, winner.secret),
        lc.seal_entry_secret("payout-preimage", winner.entry_id, winner.payout_preimage),
    )
    payout = Payout(
        uuid7(), winner.entry_id, terms.id, invoice, decoded.payment_hash, amount, world.now(),
        20, 1000, world.now() + dt.timedelta(hours=2), decoded.min_final_cltv_expiry,
    )  # fmt: skip
    await lc.store.insert_payout(payout)
    before = await balance(winner.player)
    sent = await lc.lightning.send_payment(
        invoice, amount_msat=amount * 1000, fee_limit_msat=1_000_000, timeout_secs=10
    )
    assert sent.status.value == "succeeded"
    await reconcile(lc, world.services.invoices)
    recorded = await lc.store.payout(payout.id)
    assert recorded is not None and recorded.status is PayoutStatus.SUCCEEDED
    await world.services.sender.send_pending()
    assert await balance(winner.player) == before + amount * 1000  # paid exactly once
    await run_to(world, terms.id, State.COMPLETED, mine=True)


async def _outcome_confirmed(world: World, competition_id) -> bool:  # type: ignore[no-untyped-def]
    return await confirmed_at(world, competition_id, TxKind.OUTCOME) is not None


async def test_restore_from_an_older_database_never_pays_twice(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The database is restored from a backup taken before the last payout: reconciliation
    holds that winner's payouts (a node payment of its amount is unexplained); a new invoice
    is refused, the invoice the node already paid is recorded without paying again."""
    lc = world.lc
    terms = make_terms(3, 1, now=world.now(), start_in=dt.timedelta(minutes=30), values=1,
                       locations=("KORD",))  # fmt: skip
    await create(world, terms)
    choices = [picks("KORD", "Over"), picks("KORD", "Under"), picks("KORD", "Under")]
    seats = [await enter(world, await world.player(), terms.id, c) for c in choices]
    await run_to(world, terms.id, State.AWAITING_ATTESTATION, mine=True)
    attest(world, terms, 75.0)
    await run_to(world, terms.id, State.OUTCOME_BROADCASTED)
    await world.eventually(lambda: _outcome_confirmed(world, terms.id), mine=True)
    winner = seats[0]
    backup = tmp_path / "backup.db"
    await asyncio.to_thread(_backup, world.db.path, backup)  # before the payout
    invoice = await payout_invoice(world, winner)
    paid = await sell_back_with(world, winner, invoice)
    assert paid.status is PayoutStatus.SUCCEEDED
    before = await balance(winner.player)

    restored = Database("competitions", backup, DbSettings(read_connections=2))
    restored.open()
    world.closers.append(lambda: asyncio.to_thread(restored.close))
    lc.store = SqliteCompetitionStore(restored)
    assert await lc.store.payouts_of(terms.id) == []  # the restored database forgot it
    await reconcile(lc, world.services.invoices)
    (hold,) = await lc.store.holds()
    assert hold.entry_id == winner.entry_id and hold.amount_sats == paid.amount_sats
    with pytest.raises(ConflictError, match="on hold"):
        await sell_back_with(world, winner, await payout_invoice(world, winner))
    again = await sell_back_with(world, winner, invoice)  # the invoice the node paid
    assert again.status is PayoutStatus.SUCCEEDED
    assert await balance(winner.player) == before  # not paid a second time
    assert await lc.store.holds() == []
    await run_to(world, terms.id, State.COMPLETED, mine=True)


def _backup(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


async def sell_back_with(world: World, seat, invoice: str):  # type: ignore[no-untyped-def]
    return await request_payout(
        world.lc,
        world.services.sender,
        seat.player.pubkey,
        seat.competition_id,
        seat.entry_id,
        PayoutRequest(seat.ticket_id, seat.payout_preimage, seat.secret, invoice),
    )
