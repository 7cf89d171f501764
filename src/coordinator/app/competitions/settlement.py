"""Settlement steps: from a funded contract to every output where it belongs.

The oracle's attestation (checked against the announced locking points) selects the outcome
transaction; no attestation by the event's expiry selects the expiry transaction, settled as
the expiry outcome. Winners paid over Lightning are swept together (one cooperative close) or,
once the payout window is over with winners unpaid, the split transaction goes out: paid
winners' outputs are closed with their keys, unpaid winners keep their on-chain claim and are
listed as owed; their outputs are swept only after an operator approved it and the contract's
timelock passed. Whatever the chain already holds (a player broadcast a settlement transaction
first) is adopted, never contradicted.
"""

from __future__ import annotations

import logging
import uuid

from coordinator.app import metrics
from coordinator.app.competitions.context import Lifecycle
from coordinator.app.competitions.contracts import (
    ContractCache,
    announcement_of,
    entry_by_player,
    outcome_of,
)
from coordinator.app.competitions.onchain import (
    confirmed_height,
    put_on_chain,
    sweep_fee_rate,
    sweep_template,
    uneconomic,
)
from coordinator.app.competitions.spends import OWN_SPENDS, spend_of
from coordinator.domain.competitions.payouts import (
    CloseDecision,
    close_or_split,
    payout_amount,
    reclaim_height,
)
from coordinator.domain.competitions.records import (
    Competition,
    Entry,
    Milestone,
    OwedWinner,
    PayoutStatus,
    SettlementTx,
    TxKind,
)
from coordinator_core.errors import CoordinatorError, PermanentError
from ticketdlc.bitcoin.fees import P2TR_KEY_SPEND, sat_per_vb_to_sat_per_kwu
from ticketdlc.bitcoin.tx import Transaction
from ticketdlc.contract import EXPIRY, Outcome, SignedContract, Spend, SpendError, WinCondition
from ticketdlc.typed_bytes import Txid

log = logging.getLogger(__name__)


def _by_kind(txs: list[SettlementTx], kind: TxKind, player: int = -1) -> SettlementTx | None:
    return next((t for t in txs if t.kind is kind and t.player_index == player), None)


async def _expired(lc: Lifecycle, expiry: int | None) -> bool:
    """The expiry transaction is final in the next block (BIP-113: locktime < MTP)."""
    return expiry is not None and await lc.chain.median_time_past() > expiry


async def _observed(
    lc: Lifecycle, competition_id: uuid.UUID, kind: TxKind, txid: Txid, player: int = -1
) -> SettlementTx:
    raw = await lc.chain.raw_transaction(txid)
    if raw is None:
        raise PermanentError(f"the chain reports {txid} but does not return it")
    tx = SettlementTx(competition_id, kind, txid, raw.hex(), lc.clock(), player_index=player)
    await lc.store.record_observed_tx(tx)
    return tx


async def adopt_funding_spend(lc: Lifecycle, c: Competition, signed: SignedContract) -> bool:
    """If the funding output is already spent (a player broadcast an outcome or the expiry
    transaction), record that outcome. Returns True if the competition moved on."""
    outpoint = signed.dlc.funding_outpoint
    spend = await lc.chain.output_spend(outpoint.txid_hex, outpoint.vout)
    if spend is None or not spend.spent or spend.txid is None:
        return False
    outcome = next(
        (o for o, tx in signed.dlc.outcome_txs.items() if tx.txid_hex() == spend.txid), None
    )
    if outcome is None:
        raise PermanentError(f"the funding output is spent by an unknown transaction {spend.txid}")
    if c.settled_outcome == str(outcome) and c.progress.outcome_broadcasted_at is not None:
        return False
    await _observed(lc, c.id, TxKind.OUTCOME, spend.txid)
    log.info("competition %s: %s found on chain, settling on it", c.id, outcome)
    now = lc.clock()
    if outcome.is_expiry:
        await lc.store.advance(
            c.id, Milestone("expiry_broadcasted_at", now, {"settled_outcome": "exp"})
        )
    else:
        await lc.store.advance(
            c.id, Milestone("attested_at", now, {"settled_outcome": str(outcome)})
        )
        await lc.store.set_documents(c.id, {"settled_outcome": str(outcome)})
    return True


async def check_attestation(lc: Lifecycle, c: Competition, cache: ContractCache) -> bool:
    """Attestation first (verified against our stored locking points); else, once the event
    expired, the expiry transaction. Oracle errors never block an eligible expiry."""
    signed = await cache.signed(c)
    if await adopt_funding_spend(lc, c, signed):
        return True
    _, expiry = announcement_of(c)
    try:
        event = await lc.oracle.get_event(c.id)
    except CoordinatorError:
        if not await _expired(lc, expiry):
            raise
        event = None
    if event is not None and event.attestation is not None:
        try:
            outcome = signed.outcome_of_attestation(event.attestation)
        except SpendError as exc:
            raise PermanentError(f"the oracle's attestation is invalid: {exc}") from None
        if event.attested_outcome is not None and event.attested_outcome != outcome.index:
            raise PermanentError("the oracle's attestation does not unlock the outcome it names")
        documents = {"attestation": f"{event.attestation:064x}", "settled_outcome": str(outcome)}
        await lc.store.advance(c.id, Milestone("attested_at", lc.clock(), documents))
        return True
    if await _expired(lc, expiry):
        tx = signed.expiry_tx()
        if tx is None:
            raise PermanentError("the contract has no expiry transaction")
        stored = await put_on_chain(
            lc, SettlementTx(c.id, TxKind.OUTCOME, tx.txid_hex(), tx.hex(), lc.clock()), "expiry"
        )
        documents = {"settled_outcome": str(EXPIRY), "outcome_transaction": stored.raw_hex}
        await lc.store.advance(c.id, Milestone("expiry_broadcasted_at", lc.clock(), documents))
        return True
    return False


async def broadcast_outcome(lc: Lifecycle, c: Competition, cache: ContractCache) -> bool:
    signed = await cache.signed(c)
    existing = _by_kind(await lc.store.txs_of(c.id), TxKind.OUTCOME)
    if existing is None:
        if c.settled_outcome is None or c.attestation is None:
            raise PermanentError("attested without an attestation")
        outcome = outcome_of(c.settled_outcome)
        assert outcome.index is not None
        tx = signed.signed_outcome_tx(outcome.index, int(c.attestation, 16))
        existing = SettlementTx(c.id, TxKind.OUTCOME, tx.txid_hex(), tx.hex(), lc.clock())
    try:
        stored = await put_on_chain(lc, existing, "outcome")
    except CoordinatorError:
        if await adopt_funding_spend(lc, c, signed):
            return True
        raise
    await lc.store.advance(
        c.id,
        Milestone("outcome_broadcasted_at", lc.clock(), {"outcome_transaction": stored.raw_hex}),
    )
    return True


async def record_expiry_outcome(lc: Lifecycle, c: Competition, cache: ContractCache) -> bool:
    stored = _by_kind(await lc.store.txs_of(c.id), TxKind.OUTCOME)
    if stored is None:
        raise PermanentError("expiry broadcast without a stored expiry transaction")
    documents = {"settled_outcome": str(EXPIRY), "outcome_transaction": stored.raw_hex}
    await lc.store.advance(c.id, Milestone("outcome_broadcasted_at", lc.clock(), documents))
    return True


async def paid_winners(lc: Lifecycle, c: Competition, winners: list[int]) -> dict[int, Entry]:
    """Winners whose Lightning payout succeeded (their key was revealed)."""
    entries = entry_by_player(await lc.store.entries_of(c.id))
    paid: dict[int, Entry] = {}
    for player in winners:
        entry = entries[player]
        payouts = await lc.store.payouts_of_entry(entry.id)
        succeeded = any(p.status is PayoutStatus.SUCCEEDED for p in payouts)
        if succeeded and entry.sealed_ephemeral_privatekey is not None:
            paid[player] = entry
    return paid


def winner_secret(lc: Lifecycle, entry: Entry) -> bytes:
    assert entry.sealed_ephemeral_privatekey is not None
    return lc.entry_secret("entry-key", entry.id, entry.sealed_ephemeral_privatekey)


async def close_or_split_step(lc: Lifecycle, c: Competition, cache: ContractCache) -> bool:
    """Every winner paid: close the outcome output cooperatively. Window over with winners
    unpaid: broadcast the split transaction. The first persisted decision is final."""
    signed = await cache.signed(c)
    params = signed.params
    if await _adopt_other_outcome(lc, c, signed):
        return False  # reload: the outcome changed under us
    assert c.settled_outcome is not None
    outcome = outcome_of(c.settled_outcome)
    txs = await lc.store.txs_of(c.id)
    decided = _by_kind(txs, TxKind.CLOSE) or _by_kind(txs, TxKind.SPLIT)
    winners = list(params.winners(outcome))
    if decided is not None:
        await put_on_chain(lc, decided, decided.kind.value)
        return await _decided(lc, c, decided.kind, winners)
    outcome_tx = _by_kind(txs, TxKind.OUTCOME)
    if outcome_tx is None:
        raise PermanentError("no outcome transaction is stored")
    height = await confirmed_height(lc, outcome_tx)
    if height is None:
        return False
    spend = await lc.chain.output_spend(outcome_tx.txid, 0)
    if spend is not None and spend.spent and spend.txid is not None:
        kind = await _own_outcome_spend(lc, signed, outcome, spend.txid)
        await _observed(lc, c.id, kind, spend.txid)
        log.warning("competition %s: our %s %s found on chain", c.id, kind.value, spend.txid)
        return await _decided(lc, c, kind, winners)
    paid = await paid_winners(lc, c, winners)
    decision = close_or_split(
        confirm_height=height,
        tip=await lc.chain.tip_height(),
        delta=params.relative_locktime_block_delta,
        rules=lc.payout_rules,
        winners=winners,
        paid=paid,
    )
    mm = lc.market_maker_secret(c.id)
    if decision is CloseDecision.CLOSE:
        txin, prevout = signed.spend_input(Spend.OUTCOME_CLOSE, outcome)
        template = await sweep_template(lc, txin, prevout, P2TR_KEY_SPEND, await sweep_fee_rate(lc))
        if template is None:
            raise PermanentError("the outcome output is too small to close")
        secrets = {entry.ephemeral_pubkey: winner_secret(lc, entry) for entry in paid.values()}
        tx = signed.sign_spend(
            Spend.OUTCOME_CLOSE,
            outcome,
            template,
            0,
            [prevout],
            mm_secret=mm,
            player_secrets=secrets,
        )
        await put_on_chain(lc, _settlement(c.id, TxKind.CLOSE, tx, lc), "close")
    elif decision is CloseDecision.SPLIT:
        entries = entry_by_player(await lc.store.entries_of(c.id))
        tickets = {t.id: t for t in await lc.store.tickets_of(c.id)}
        first = winners[0]
        ticket = tickets[entries[first].ticket_id]
        preimage = lc.ticket_preimage(ticket.id, ticket.sealed_preimage)
        tx = signed.signed_split_tx(WinCondition(outcome, first), preimage)
        await put_on_chain(lc, _settlement(c.id, TxKind.SPLIT, tx, lc), "split")
    else:
        return False
    return await _decided(lc, c, TxKind.CLOSE if decision is CloseDecision.CLOSE else TxKind.SPLIT,
                          winners)  # fmt: skip


async def _decided(lc: Lifecycle, c: Competition, kind: TxKind, winners: list[int]) -> bool:
    """The close or split is out: a close settles every paid winner (idempotent)."""
    if kind is TxKind.CLOSE:
        for entry in (await paid_winners(lc, c, winners)).values():
            await lc.store.mark_entry_settled(entry.id, lc.clock(), reclaimed=False)
    await lc.store.advance(c.id, Milestone("delta_broadcasted_at", lc.clock()))
    return True


async def _own_outcome_spend(
    lc: Lifecycle, signed: SignedContract, outcome: Outcome, txid: Txid
) -> TxKind:
    """What the transaction spending the outcome output is: the pre-signed split (by txid) or
    the coordinator's cooperative close (by its key-path witness); anything else is refused."""
    if txid == signed.dlc.split_txs[outcome].txid_hex():
        return TxKind.SPLIT
    raw = await lc.chain.raw_transaction(txid)
    if raw is not None and spend_of(signed, Transaction.parse(raw), outcome) is Spend.OUTCOME_CLOSE:
        return TxKind.CLOSE
    raise PermanentError(f"the outcome output is spent by an unknown transaction {txid}")


async def _adopt_other_outcome(lc: Lifecycle, c: Competition, signed: SignedContract) -> bool:
    """If the funding output was spent by another outcome's transaction than ours (a player's
    broadcast won the race), settle on what the chain holds."""
    stored = _by_kind(await lc.store.txs_of(c.id), TxKind.OUTCOME)
    outpoint = signed.dlc.funding_outpoint
    spend = await lc.chain.output_spend(outpoint.txid_hex, outpoint.vout)
    if spend is None or not spend.spent or spend.txid is None:
        return False
    if stored is not None and stored.txid == spend.txid:
        return False
    outcome = next(
        (o for o, tx in signed.dlc.outcome_txs.items() if tx.txid_hex() == spend.txid), None
    )
    if outcome is None:
        raise PermanentError(f"the funding output is spent by an unknown transaction {spend.txid}")
    log.warning("competition %s: the chain settled on %s instead; adopting it", c.id, outcome)
    await _observed(lc, c.id, TxKind.OUTCOME, spend.txid)
    await lc.store.set_documents(c.id, {"settled_outcome": str(outcome)})
    return True


def _settlement(
    competition_id: uuid.UUID, kind: TxKind, tx: Transaction, lc: Lifecycle, player: int = -1
) -> SettlementTx:
    return SettlementTx(
        competition_id, kind, tx.txid_hex(), tx.hex(), lc.clock(), player_index=player
    )


async def finish_settlement(lc: Lifecycle, c: Competition, cache: ContractCache) -> bool:
    """Completed once the close confirmed, or every winner's split output is closed, swept,
    claimed by its winner or not worth a transaction (all confirmed)."""
    signed = await cache.signed(c)
    txs = await lc.store.txs_of(c.id)
    close = _by_kind(txs, TxKind.CLOSE)
    if close is not None:
        if await confirmed_height(lc, close) is None:
            return False
        return await _complete(lc, c)
    split = _by_kind(txs, TxKind.SPLIT)
    if split is None:
        raise PermanentError("delta broadcast without a close or split transaction")
    split_height = await confirmed_height(lc, split)
    if split_height is None:
        return False
    assert c.settled_outcome is not None
    outcome = outcome_of(c.settled_outcome)
    params = signed.params
    entries = entry_by_player(await lc.store.entries_of(c.id))
    resolved = True
    for player in params.winners(outcome):
        done = await _settle_winner_output(
            lc, c, signed, outcome, player, entries[player], txs, split_height
        )
        resolved = resolved and done
    if not resolved:
        return False
    return await _complete(lc, c)


async def _complete(lc: Lifecycle, c: Competition) -> bool:
    await lc.store.advance(c.id, Milestone("completed_at", lc.clock()))
    metrics.COMPETITIONS_ENDED.inc(state="completed")
    log.info("competition %s completed", c.id)
    return True


async def _settle_winner_output(
    lc: Lifecycle,
    c: Competition,
    signed: SignedContract,
    outcome: Outcome,
    player: int,
    entry: Entry,
    txs: list[SettlementTx],
    split_height: int,
) -> bool:
    """One winner's split output; True once it is settled for good."""
    win = WinCondition(outcome, player)
    txin, prevout = signed.spend_input(Spend.SPLIT_CLOSE, win)
    own = _by_kind(txs, TxKind.SPLIT_CLOSE, player) or _by_kind(txs, TxKind.SWEEP, player)
    spend = await lc.chain.output_spend(txin.prevout.txid_hex, txin.prevout.vout)
    if spend is not None and spend.spent and spend.txid is not None:
        confirmed = spend.status is not None and spend.status.confirmed
        if own is None or spend.txid != own.txid:
            own = await _adopt_own_split_spend(lc, c, signed, win, entry, spend.txid) or own
        if own is not None and spend.txid == own.txid:
            if await confirmed_height(lc, own) is None:
                return False
            if own.kind is TxKind.SWEEP:
                await lc.store.resolve_owed(entry.id, lc.clock(), swept=True)
            return True
        if not confirmed:
            return False
        owed = await lc.store.owed(entry.id)
        if owed is not None:
            await lc.store.resolve_owed(entry.id, lc.clock(), claim_txid=spend.txid)
        elif entry.sellback_broadcasted_at is None:
            log.info("competition %s: winner %d claimed its output on chain", c.id, player)
        else:
            log.error("competition %s: paid winner %d also claimed on chain", c.id, player)
            metrics.SETTLEMENT_ALERTS.inc(action="paid_winner_claimed")
        return True
    if own is not None:
        await put_on_chain(lc, own, own.kind.value)
        await confirmed_height(lc, own)
        return False
    payouts = await lc.store.payouts_of_entry(entry.id)
    if (
        any(p.status is PayoutStatus.SUCCEEDED for p in payouts)
        and entry.sealed_ephemeral_privatekey
    ):
        template = await sweep_template(lc, txin, prevout, P2TR_KEY_SPEND, await sweep_fee_rate(lc))
        if template is None:
            raise PermanentError(f"winner {player}'s output is too small to close")
        tx = signed.sign_spend(
            Spend.SPLIT_CLOSE,
            win,
            template,
            0,
            [prevout],
            mm_secret=lc.market_maker_secret(c.id),
            player_secret=winner_secret(lc, entry),
        )
        await put_on_chain(lc, _settlement(c.id, TxKind.SPLIT_CLOSE, tx, lc, player), "split_close")
        await lc.store.mark_entry_settled(entry.id, lc.clock(), reclaimed=False)
        return False
    if any(p.status is PayoutStatus.PENDING for p in payouts):
        return False  # its payment is still resolving: paid (close it) or not (owed)
    return await _owed_winner(lc, c, signed, outcome, player, entry, split_height)


async def _adopt_own_split_spend(
    lc: Lifecycle, c: Competition, signed: SignedContract, win: WinCondition, entry: Entry,
    txid: Txid,
) -> SettlementTx | None:  # fmt: skip
    """A spend of a winner's split output that is the coordinator's own (a close or sweep it
    broadcast but has no record of) is recorded as such; ``None`` if it is not ours."""
    raw = await lc.chain.raw_transaction(txid)
    found = None if raw is None else spend_of(signed, Transaction.parse(raw), win)
    if found not in OWN_SPENDS:
        return None
    reclaimed = found is Spend.SPLIT_RECLAIM
    kind = TxKind.SWEEP if reclaimed else TxKind.SPLIT_CLOSE
    log.warning("competition %s: our %s %s of winner %d found on chain", c.id, kind.value, txid,
                win.player_index)  # fmt: skip
    tx = await _observed(lc, c.id, kind, txid, win.player_index)
    await lc.store.mark_entry_settled(entry.id, lc.clock(), reclaimed=reclaimed)
    return tx


async def _owed_winner(
    lc: Lifecycle,
    c: Competition,
    signed: SignedContract,
    outcome: Outcome,
    player: int,
    entry: Entry,
    split_height: int,
) -> bool:
    """An unpaid winner: listed as owed; swept only after approval and the 2Δ timelock."""
    win = WinCondition(outcome, player)
    txin, prevout = signed.spend_input(Spend.SPLIT_RECLAIM, win)
    owed = await lc.store.owed(entry.id)
    if owed is None:
        params = signed.params
        amount = payout_amount(
            params.funding_value, params.outcome_payouts[outcome], player, len(params.players)
        )
        owed = OwedWinner(
            entry_id=entry.id,
            competition_id=c.id,
            player_index=player,
            amount_sats=amount,
            output_value_sats=prevout.value,
            owed_since=lc.clock(),
            sweepable_at_height=reclaim_height(split_height, params.relative_locktime_block_delta),
        )
        await lc.store.insert_owed(owed)
        log.warning(
            "competition %s: winner %d (entry %s) is owed %d sats; their Lightning payout "
            "window closed unpaid",
            c.id,
            player,
            entry.id,
            amount,
        )
    if owed.resolved:
        return True
    weight = signed.spend_input_weight(Spend.SPLIT_RECLAIM, win)
    floor = sat_per_vb_to_sat_per_kwu(lc.settings.competitions.contract_fee_floor_sat_vb)
    if uneconomic(prevout, weight, floor):
        await lc.store.resolve_owed(entry.id, lc.clock(), uneconomic=True)
        return True
    tip = await lc.chain.tip_height()
    if owed.sweep_approved_at is None or tip + 1 < owed.sweepable_at_height:
        return False
    template = await sweep_template(lc, txin, prevout, weight, await sweep_fee_rate(lc))
    if template is None:
        await lc.store.resolve_owed(entry.id, lc.clock(), uneconomic=True)
        return True
    tx = signed.sign_spend(
        Spend.SPLIT_RECLAIM, win, template, 0, [prevout], mm_secret=lc.market_maker_secret(c.id)
    )
    await put_on_chain(lc, _settlement(c.id, TxKind.SWEEP, tx, lc, player), "sweep")
    await lc.store.mark_entry_settled(entry.id, lc.clock(), reclaimed=True)
    return False
