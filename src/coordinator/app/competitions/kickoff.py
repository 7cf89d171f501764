"""Kickoff steps: from a full, paid competition to a funded contract, and the cancellations.

Each step is one action of the transition table. It checks what is already done, performs at
most one kind of side effect, and persists the result before it returns ``True`` (done: the
competition moved on). ``False`` means the world is not there yet (wait for the next tick).
Errors propagate to the processor, which classifies them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid

from coordinator.app import metrics
from coordinator.app.competitions.context import Lifecycle
from coordinator.app.competitions.contracts import (
    ContractCache,
    announcement_of,
    params_of,
    player_entries,
    space_of,
    winner_sets,
)
from coordinator.app.competitions.crash_points import crash_point
from coordinator.app.competitions.onchain import confirmations
from coordinator.domain.competitions.records import (
    Competition,
    Milestone,
    SettlementTx,
    Ticket,
    TxKind,
)
from coordinator.domain.competitions.terms import keygen_timeout_secs
from coordinator.domain.ports.oracle import OracleEntry, OracleEventSpec
from coordinator.domain.ports.signer import KeygenRequest, SignerSession
from coordinator_core.errors import ConflictError, NotFoundError, PermanentError
from ticketdlc.bitcoin.fees import sat_per_vb_to_sat_per_kwu
from ticketdlc.bitcoin.tx import OutPoint, Transaction
from ticketdlc.contract import (
    CompetitionEntry,
    SignedContract,
    TicketedDLC,
    competition_contract_parameters,
)
from ticketdlc.contract.build import funding_output
from ticketdlc.contract.jsoncodec import params_to_json
from ticketdlc.contract.spend_info import KeyContext
from ticketdlc.contract.types import AnchorParams
from ticketdlc.crypto.secp import Point

log = logging.getLogger(__name__)


def session_of(competition: Competition) -> SignerSession:
    if competition.signer_session is None:
        raise PermanentError("the competition has no signing session")
    return SignerSession(str(competition.id), competition.signer_session)


def checkpoint_for(lc: Lifecycle, competition_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """The signer's checkpoint: its session state is stored before its next remote step."""

    async def checkpoint(session: SignerSession) -> None:
        await lc.store.set_documents(competition_id, {"signer_session": dict(session.state)})

    return checkpoint


# -- collecting entries -------------------------------------------------------------------


async def open_keygen(lc: Lifecycle, c: Competition) -> bool:
    """Open the key-generation session: one participant per ticket (user id = ticket id, in
    ticket order = entry-id order = player order) and the winner sets of every outcome."""
    signer = lc.required_signer
    tickets = await lc.store.tickets_of(c.id)
    request = KeygenRequest(
        competition_id=str(c.id),
        player_ids=[str(t.id) for t in tickets],
        winner_sets=winner_sets(space_of(c.terms)),
        market_maker_secret=lc.market_maker_secret(c.id),
        timeout_secs=keygen_timeout_secs(c.terms, c.progress.created_at, lc.creation_limits),
    )
    crash_point("before_open:keygen")
    session = await signer.open_keygen(request, checkpoint_for(lc, c.id))
    crash_point("after_open:keygen")
    return await lc.store.advance(
        c.id, Milestone("keygen_opened_at", lc.clock(), {"signer_session": dict(session.state)})
    )


async def cancel(lc: Lifecycle, c: Competition, reason: str) -> bool:
    """Cancel before funding; the held entry fees are then released by the next action."""
    if not await lc.store.cancel(c.id, reason, lc.clock()):
        raise ConflictError(f"competition {c.id} can no longer be cancelled")
    log.info("competition %s cancelled: %s", c.id, reason)
    metrics.COMPETITIONS_ENDED.inc(state="cancelled")
    return True


async def cancel_unfilled(lc: Lifecycle, c: Competition) -> bool:
    r = c.roster
    return await cancel(
        lc,
        c,
        f"entries closed with {r.paid_entries} paid entries of {r.total_tickets}",
    )


async def cancel_signing_timeout(lc: Lifecycle, c: Competition) -> bool:
    return await cancel(lc, c, "signing did not finish in time")


async def cancel_failed(lc: Lifecycle, c: Competition) -> bool:
    last = c.errors.errors[-1].message if c.errors.errors else "unknown error"
    return await cancel(lc, c, f"failed: {last}")


async def release_invoices(lc: Lifecycle, c: Competition) -> bool:
    """Return every held or payable entry fee of a cancelled or failed competition now, and
    unlock the funding coins of a contract that will not be funded."""
    tickets = await lc.store.tickets_of(c.id)
    live = [
        t
        for t in tickets
        if t.payment_request is not None and t.invoice_cancelled_at is None and not t.settled_at
    ]
    crash_point("before_cancel:invoices")
    for ticket in live:
        await cancel_invoice(lc, ticket)
    crash_point("after_cancel:invoices")
    if c.funding_psbt is not None and not await _funding_persisted(lc, c.id):
        await lc.wallet.release_funding(c.funding_psbt)
    return await lc.store.advance(c.id, Milestone("invoices_released_at", lc.clock()))


async def cancel_invoice(lc: Lifecycle, ticket: Ticket) -> None:
    """Cancel a ticket's hold invoice at the node, then record it (the fee goes back)."""
    with contextlib.suppress(NotFoundError):  # never reached the node: nothing to return
        await lc.lightning.cancel_invoice(ticket.hash)
    await lc.store.mark_invoice_cancelled(ticket.id, lc.clock())


async def _funding_persisted(lc: Lifecycle, competition_id: uuid.UUID) -> bool:
    return any(t.kind is TxKind.FUNDING for t in await lc.store.txs_of(competition_id))


# -- kickoff ------------------------------------------------------------------------------


async def create_oracle_event(lc: Lifecycle, c: Competition) -> bool:
    terms = c.terms
    spec = OracleEventSpec(
        id=c.id,
        signing_date=terms.signing_date,
        start_observation_date=terms.start_observation_date,
        end_observation_date=terms.end_observation_date,
        locations=terms.locations,
        number_of_values_per_entry=terms.number_of_values_per_entry,
        total_allowed_entries=terms.total_allowed_entries,
        number_of_places_win=terms.number_of_places_win,
        scoring_fields=terms.scoring_fields,
    )
    crash_point("before_create:oracle_event")
    event = await lc.oracle.create_event(spec)  # idempotent: the same event again returns it
    crash_point("after_create:oracle_event")
    space = space_of(terms)
    if event.outcome_space.count != space.count:
        raise PermanentError(
            f"the oracle announced {event.outcome_space.count} outcomes, expected {space.count}"
        )
    announcement = {
        "locking_points": [p.to_bytes().hex() for p in event.announcement.points],
        "expiry": event.expiry,
        "nonce_point": None if event.nonce_point is None else event.nonce_point.to_bytes().hex(),
        "oracle_pubkey": (await lc.oracle.public_key()).to_bytes().hex(),
    }
    return await lc.store.advance(
        c.id, Milestone("event_created_at", lc.clock(), {"event_announcement": announcement})
    )


async def submit_entries(lc: Lifecycle, c: Competition) -> bool:
    entries = sorted(await lc.store.entries_of(c.id), key=lambda e: e.id.int)
    if len(entries) != c.terms.total_allowed_entries:
        raise PermanentError(f"{len(entries)} entries, expected {c.terms.total_allowed_entries}")
    crash_point("before_submit:oracle_entries")
    await lc.oracle.submit_entries(c.id, [OracleEntry(e.id, e.picks) for e in entries])
    crash_point("after_submit:oracle_entries")
    return await lc.store.advance(c.id, Milestone("entries_submitted_at", lc.clock()))


async def build_contract(lc: Lifecycle, c: Competition) -> bool:
    """Contract parameters (players in entry-id order, fee rate from estimates with a floor,
    anchors) and the funding PSBT, whose coins the wallet locks."""
    entries = await lc.store.entries_of(c.id)
    tickets = await lc.store.tickets_of(c.id)
    players = [
        CompetitionEntry(
            entry_id=e.id,
            pubkey=Point.from_bytes(e.ephemeral_pubkey),
            ticket_hash=t.hash,
            payout_hash=e.payout_hash,
        )
        for e, t in player_entries(entries, tickets)
    ]
    announcement, expiry = announcement_of(c)
    settings = lc.settings.competitions
    rate = max(
        await lc.wallet.fee_rate(settings.contract_fee_target_blocks),
        settings.contract_fee_floor_sat_vb,
    )
    anchor = AnchorParams(settings.anchor_value_sats) if settings.anchor_value_sats else None
    params = competition_contract_parameters(
        players,
        announcement,
        expiry,
        c.terms.number_of_places_win,
        Point.from_secret(lc.market_maker_secret(c.id)),
        c.terms.total_competition_pool,
        sat_per_vb_to_sat_per_kwu(rate),
        c.terms.relative_locktime_block_delta,
        anchor=anchor,
    )
    output = funding_output(params)
    crash_point("before_build:funding_psbt")
    psbt = await lc.wallet.build_funding_psbt(output.script_pubkey, output.value, rate)
    crash_point("after_build:funding_psbt")
    outpoint = OutPoint.from_display(psbt.txid, psbt.vout)
    try:
        await asyncio.to_thread(TicketedDLC.new, params, outpoint)
    except Exception:
        await lc.wallet.release_funding(psbt.psbt)
        raise
    documents = {
        "contract_parameters": params_to_json(params),
        "funding_psbt": psbt.psbt,
        "funding_outpoint": f"{psbt.txid}:{psbt.vout}",
    }
    return await lc.store.advance(c.id, Milestone("contracted_at", lc.clock(), documents))


async def await_keygen(lc: Lifecycle, c: Competition, cache: ContractCache) -> bool:
    """Keygen completed: its verified roster must be exactly the contract's signers."""
    result = await lc.required_signer.keygen_result(session_of(c))
    if result is None:
        return False
    params = params_of(c)
    tickets = {str(t.id): t for t in await lc.store.tickets_of(c.id)}
    entries = {e.ticket_id: e for e in await lc.store.entries_of(c.id)}
    mm = params.market_maker.pubkey.to_bytes()
    for user_id, ticket in tickets.items():
        entry = entries.get(ticket.id)
        key = result.participant_keys.get(user_id)
        if entry is None or key != entry.ephemeral_pubkey:
            raise PermanentError(
                f"the signing roster's key for ticket {user_id} is not its entry's"
            )
    expected = {mm, *(e.ephemeral_pubkey for e in entries.values())}
    if set(result.participant_keys.values()) != expected:
        raise PermanentError("the signing roster is not the contract's market maker and players")
    aggregate = KeyContext.of(params.signer_pubkeys()).aggregate.to_bytes()
    if result.aggregate_public_key != aggregate:
        raise PermanentError("the signing roster's aggregate key is not the contract's")
    return await lc.store.advance(c.id, Milestone("keymeld_keygen_completed_at", lc.clock()))


async def sign_contract(lc: Lifecycle, c: Competition, cache: ContractCache) -> bool:
    """Sign every outcome and split through the signer, verify the whole set, store it."""
    dlc = await cache.dlc(c)
    crash_point("before_sign:contract")
    signatures = await lc.required_signer.sign_contract(
        session_of(c), dlc, checkpoint_for(lc, c.id)
    )
    crash_point("after_sign:contract")
    signed = await asyncio.to_thread(SignedContract.verified, dlc, signatures)
    return await lc.store.advance(
        c.id, Milestone("signed_at", lc.clock(), {"signed_contract": signed.to_json()})
    )


async def broadcast_funding(lc: Lifecycle, c: Competition) -> bool:
    """Sign the funding PSBT with the wallet and broadcast it; the signed transaction is
    persisted first, and a competition with a persisted funding transaction is never
    cancelled."""
    existing = [t for t in await lc.store.txs_of(c.id) if t.kind is TxKind.FUNDING]
    if existing:
        stored = existing[0]
    else:
        if c.funding_psbt is None or c.funding_outpoint is None:
            raise PermanentError("the competition has no funding PSBT")
        crash_point("before_sign:funding")
        signed = await lc.wallet.sign_psbt(c.funding_psbt)
        crash_point("after_sign:funding")
        tx = Transaction.parse(signed.raw)
        params = params_of(c)
        txid, _, vout = c.funding_outpoint.partition(":")
        if signed.txid != txid or tx.outputs[int(vout)] != funding_output(params):
            raise PermanentError("the signed funding transaction does not pay the contract")
        stored = await lc.store.insert_tx(
            SettlementTx(
                c.id, TxKind.FUNDING, signed.txid, signed.raw.hex(), lc.clock(), fee_sats=signed.fee
            )
        )
    if stored.broadcast_at is None:
        crash_point("before_broadcast:funding")
        await lc.wallet.broadcast(bytes.fromhex(stored.raw_hex))
        crash_point("after_broadcast:funding")
        await lc.store.mark_tx_broadcast(stored.txid, lc.clock())
    return await lc.store.advance(
        c.id,
        Milestone("funding_broadcasted_at", lc.clock(), {"funding_transaction": stored.raw_hex}),
    )


async def settle_invoices(lc: Lifecycle, c: Competition) -> bool:
    """After the funding broadcast: settle every held entry fee with its ticket preimage
    (which reveals the preimage to the payer: its on-chain claim on the split output)."""
    for ticket in await lc.store.tickets_of(c.id):
        if ticket.paid_at is None or ticket.settled_at is not None:
            continue
        if ticket.invoice_cancelled_at is not None:
            log.error("entry fee of ticket %s was released by the node before funding", ticket.id)
            metrics.LOST_ENTRY_FEES.inc()
            continue
        preimage = lc.ticket_preimage(ticket.id, ticket.sealed_preimage)
        if hashlib.sha256(preimage).digest() != ticket.hash:
            raise PermanentError(f"ticket {ticket.id}: stored preimage does not match its hash")
        crash_point("before_settle:invoice")
        try:
            await lc.lightning.settle_invoice(preimage)
        except (ConflictError, NotFoundError) as exc:
            log.error("cannot settle the entry fee of ticket %s: %s", ticket.id, exc)
            metrics.LOST_ENTRY_FEES.inc()
            continue
        await lc.store.mark_settled(ticket.id, lc.clock())
    crash_point("after_settle:invoices")
    return await lc.store.advance(c.id, Milestone("invoices_settled_at", lc.clock()))


async def confirm_funding(lc: Lifecycle, c: Competition) -> bool:
    funding = next((t for t in await lc.store.txs_of(c.id) if t.kind is TxKind.FUNDING), None)
    if funding is None:
        raise PermanentError("funding was broadcast but its transaction is not stored")
    depth = await confirmations(lc, funding)
    if depth < lc.settings.coordinator.required_confirmations:
        return False
    return await lc.store.advance(c.id, Milestone("funding_confirmed_at", lc.clock()))


async def mark_funding_settled(lc: Lifecycle, c: Competition) -> bool:
    if c.progress.invoices_settled_at is None:
        return False
    return await lc.store.advance(c.id, Milestone("funding_settled_at", lc.clock()))


async def mark_awaiting_attestation(lc: Lifecycle, c: Competition) -> bool:
    return await lc.store.advance(c.id, Milestone("awaiting_attestation_at", lc.clock()))
