"""Winners not all paid over Lightning: the split path on the devnet.

Four players, three places. The first winner sells back over Lightning; the second claims its
split output on chain with its ticket preimage (learned when its entry fee settled) and its key;
the third is owed: the coordinator's sweep of its output is refused before the reclaim height
and goes out after an operator approved it. The competition completes once every winner output
is settled.
"""

from __future__ import annotations

import datetime as dt

import pytest

from coordinator.app.competitions import owed as owed_service
from coordinator.app.competitions.spends import OWN_SPENDS, spend_of
from coordinator.domain.competitions.records import PayoutStatus, TxKind
from coordinator.domain.competitions.states import State
from coordinator_core.errors import ConflictError
from tests.lifecycle.factories import make_terms
from tests.lifecycle.world import (
    World,
    attest,
    confirmed_at,
    create,
    enter,
    mine_to,
    picks,
    run_to,
    sell_back,
    stored_tx,
)
from ticketdlc.bitcoin.script import p2tr_script
from ticketdlc.bitcoin.tx import Transaction, TxOut
from ticketdlc.contract import Outcome, WinCondition
from ticketdlc.contract.settlement import Spend
from ticketdlc.crypto.secp import Point

pytestmark = pytest.mark.slow


async def test_paid_winner_closed_unpaid_winner_claims_owed_winner_swept(world: World) -> None:
    lc = world.lc
    terms = make_terms(4, 3, now=world.now(), start_in=dt.timedelta(minutes=30), values=3,
                       locations=("KORD",))  # fmt: skip
    await create(world, terms)
    choices = [
        picks("KORD", "Over", "Under", "Par"),  # 40 points: first
        picks("KORD", "Over", "Under", "Over"),  # 20: second
        picks("KORD", "Over", "Over", "Over"),  # 10: third
        picks("KORD", "Under", "Over", "Over"),  # 0
    ]
    seats = [await enter(world, await world.player(), terms.id, c) for c in choices]
    await run_to(world, terms.id, State.AWAITING_ATTESTATION, mine=True)
    attest(world, terms, 75.0)
    await run_to(world, terms.id, State.OUTCOME_BROADCASTED)
    await world.eventually(lambda: _confirmed(world, terms.id, TxKind.OUTCOME), mine=True)
    first, second, third, _ = seats
    board = await world.services.board.rows(terms.id)
    assert board["public"] and [r["entry_id"] for r in board["rows"][:3]] == [
        str(s.entry_id) for s in seats[:3]
    ]

    paid = await sell_back(world, first)
    assert paid.status is PayoutStatus.SUCCEEDED

    # Nobody else asks: once the window is over the split transaction goes out.
    outcome_height = await confirmed_at(world, terms.id, TxKind.OUTCOME)
    assert outcome_height is not None
    delta = terms.relative_locktime_block_delta
    await mine_to(world, outcome_height + delta - 2)
    await world.step()
    assert await state_of_is(world, terms.id, State.OUTCOME_BROADCASTED)
    await run_to(world, terms.id, State.DELTA_BROADCASTED, mine=True)
    await world.eventually(lambda: _confirmed(world, terms.id, TxKind.SPLIT), mine=True)
    split_height = await confirmed_at(world, terms.id, TxKind.SPLIT)
    assert split_height is not None
    await world.step(2)
    close = await stored_tx(world, terms.id, TxKind.SPLIT_CLOSE, 0)
    assert close is not None  # the paid winner's output, closed with its revealed key
    owed = {o.player_index: o for o in await lc.store.owed_of(terms.id)}
    assert set(owed) == {1, 2}
    assert owed[2].sweepable_at_height == split_height + 2 * delta

    # The third winner's output may not be swept before the reclaim timelock.
    with pytest.raises(ConflictError, match="can be swept from height"):
        await owed_service.approve_sweep(lc, third.entry_id)

    # The second winner claims its output itself, Δ after the split confirmed.
    await mine_to(world, split_height + delta - 1)
    competition = await lc.store.load(terms.id)
    assert competition is not None and competition.settled_outcome is not None
    signed = await world.services.processor.cache.signed(competition)
    ticket_hash = signed.params.players[1].ticket_hash
    payment = await second.player.lightning.track_payment(ticket_hash)
    assert payment.preimage is not None  # the entry fee settled: the ticket preimage is known
    win = WinCondition(Outcome.parse(competition.settled_outcome), 1)
    txin, prevout = signed.spend_input(Spend.SPLIT_WIN, win)
    sink = p2tr_script(Point.from_secret(77).xonly())
    claim = Transaction(2, (txin,), (TxOut(prevout.value - 500, sink),), 0)
    claim = signed.sign_spend(
        Spend.SPLIT_WIN,
        win,
        claim,
        0,
        [prevout],
        preimage=payment.preimage,
        player_secret=second.secret,
    )
    assert world.chain.broadcast(claim.serialize()).accepted
    await world.mine(1)
    await world.step()

    # After approval and the timelock, the coordinator sweeps the third winner's output.
    await mine_to(world, split_height + 2 * delta - 1)
    approved = await owed_service.approve_sweep(lc, third.entry_id)
    assert approved.sweep_approved_at is not None
    await run_to(world, terms.id, State.COMPLETED, mine=True)
    resolved = {o.player_index: o for o in await lc.store.owed_of(terms.id)}
    assert resolved[1].claim_txid == claim.txid_hex() and resolved[1].swept_at is None
    assert resolved[2].swept_at is not None
    kinds = sorted((t.kind.value, t.player_index) for t in await lc.store.txs_of(terms.id))
    assert kinds == sorted(
        [("funding", -1), ("outcome", -1), ("split", -1), ("split_close", 0), ("sweep", 2)]
    )
    # Found on chain without a record (a restart from an older database), each spend of a
    # winner's output is told by its witness: the coordinator's close and sweep from a claim.
    stored = {(t.kind, t.player_index): t for t in await lc.store.txs_of(terms.id)}
    outcome = win.outcome

    def spend_in(kind: TxKind, player: int) -> Spend | None:
        tx = Transaction.from_hex(stored[(kind, player)].raw_hex)
        return spend_of(signed, tx, WinCondition(outcome, player))

    assert spend_in(TxKind.SPLIT_CLOSE, 0) is Spend.SPLIT_CLOSE
    assert spend_in(TxKind.SWEEP, 2) is Spend.SPLIT_RECLAIM
    assert spend_of(signed, claim, win) is Spend.SPLIT_WIN
    assert spend_of(signed, claim, WinCondition(outcome, 0)) is None  # not that output
    assert Spend.SPLIT_WIN not in OWN_SPENDS


async def state_of_is(world: World, competition_id, state: State) -> bool:  # type: ignore[no-untyped-def]
    c = await world.lc.store.load(competition_id, documents=False)
    return c is not None and c.state is state


async def _confirmed(world: World, competition_id, kind: TxKind) -> bool:  # type: ignore[no-untyped-def]
    return await confirmed_at(world, competition_id, kind) is not None


async def test_payout_failure_then_the_winner_claims_on_chain(world: World) -> None:
    lc = world.lc
    terms = make_terms(3, 1, now=world.now(), start_in=dt.timedelta(minutes=30), values=1,
                       locations=("KORD",))  # fmt: skip
    await create(world, terms)
    choices = [picks("KORD", "Over"), picks("KORD", "Under"), picks("KORD", "Under")]
    seats = [await enter(world, await world.player(), terms.id, c) for c in choices]
    await run_to(world, terms.id, State.AWAITING_ATTESTATION, mine=True)
    attest(world, terms, 75.0)
    await run_to(world, terms.id, State.OUTCOME_BROADCASTED)
    await world.eventually(lambda: _confirmed(world, terms.id, TxKind.OUTCOME), mine=True)
    winner = seats[0]
    await world.control.fail_next_payment(world.coordinator_node.alias)
    failed = await sell_back(world, winner)
    assert failed.status is PayoutStatus.FAILED and "no_route" in (failed.error or "")
    await run_to(world, terms.id, State.DELTA_BROADCASTED, mine=True)
    await world.eventually(lambda: _confirmed(world, terms.id, TxKind.SPLIT), mine=True)
    split_height = await confirmed_at(world, terms.id, TxKind.SPLIT)
    assert split_height is not None
    await world.step()
    (owed,) = await lc.store.owed_of(terms.id)
    assert owed.entry_id == winner.entry_id
    with pytest.raises(ConflictError, match="window is over"):
        await sell_back(world, winner)
    # The winner claims its whole share on chain, Δ after the split.
    await mine_to(world, split_height + terms.relative_locktime_block_delta - 1)
    competition = await lc.store.load(terms.id)
    assert competition is not None and competition.settled_outcome is not None
    signed = await world.services.processor.cache.signed(competition)
    payment = await winner.player.lightning.track_payment(signed.params.players[0].ticket_hash)
    assert payment.preimage is not None
    win = WinCondition(Outcome.parse(competition.settled_outcome), 0)
    txin, prevout = signed.spend_input(Spend.SPLIT_WIN, win)
    sink = p2tr_script(Point.from_secret(78).xonly())
    claim = Transaction(2, (txin,), (TxOut(prevout.value - 500, sink),), 0)
    claim = signed.sign_spend(
        Spend.SPLIT_WIN,
        win,
        claim,
        0,
        [prevout],
        preimage=payment.preimage,
        player_secret=winner.secret,
    )
    assert world.chain.broadcast(claim.serialize()).accepted
    await run_to(world, terms.id, State.COMPLETED, mine=True)
    (settled,) = await lc.store.owed_of(terms.id)
    assert settled.claim_txid == claim.txid_hex()
