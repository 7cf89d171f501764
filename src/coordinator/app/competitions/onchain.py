"""Settlement broadcasts as small, named steps: persist the transaction, then broadcast it.

A transaction is stored (with its txid) before it is offered to the chain, and whatever is
stored is what gets broadcast again after a restart: the coordinator never builds a second,
conflicting version of a settlement transaction. A stored transaction the chain refuses for its
fee rate goes out with a CPFP child on its anchor, as a package (``Lifecycle.fee_bumper``).
"""

from __future__ import annotations

from coordinator.app.competitions.context import Lifecycle
from coordinator.app.competitions.crash_points import crash_point
from coordinator.domain.competitions.records import SettlementTx
from coordinator.domain.ports.chain import BroadcastRejectedError, confirmations_from
from ticketdlc.bitcoin.address import address_to_script_pubkey
from ticketdlc.bitcoin.fees import (
    P2TR_DUST_VALUE,
    InputWeightPrediction,
    fee_for_weight,
    predict_weight,
    sat_per_vb_to_sat_per_kwu,
)
from ticketdlc.bitcoin.tx import Transaction, TxIn, TxOut


async def put_on_chain(lc: Lifecycle, tx: SettlementTx, what: str) -> SettlementTx:
    """Persist ``tx`` (or find the one stored for its kind) and broadcast the stored one.

    ``what`` names the crash points ``before_broadcast:<what>`` / ``after_broadcast:<what>``.
    """
    stored = await lc.store.insert_tx(tx)
    if stored.broadcast_at is None:
        crash_point(f"before_broadcast:{what}")
        await broadcast_stored(lc, stored)
        crash_point(f"after_broadcast:{what}")
        await lc.store.mark_tx_broadcast(stored.txid, lc.clock())
    return stored


async def broadcast_stored(lc: Lifecycle, tx: SettlementTx) -> None:
    """Offer a stored transaction to the chain source again (idempotent there)."""
    try:
        await lc.chain.broadcast(bytes.fromhex(tx.raw_hex))
    except BroadcastRejectedError as exc:
        # A transaction already mined (its inputs now spent by itself) is refused by some
        # servers instead of being recognised: it is broadcast if the chain knows it.
        if await lc.chain.tx_status(tx.txid) is not None:
            return
        if lc.fee_bumper is None or not await lc.fee_bumper.rescue(tx, exc.reason):
            raise


async def confirmations(lc: Lifecycle, tx: SettlementTx) -> int:
    """``tip − height + 1`` of a stored transaction; re-broadcasts one the chain lost."""
    status = await lc.chain.tx_status(tx.txid)
    if status is None:
        if not tx.observed:
            await broadcast_stored(lc, tx)
        return 0
    if not status.confirmed or status.block_height is None:
        return 0
    if tx.confirmed_height != status.block_height:
        await lc.store.mark_tx_confirmed(tx.txid, status.block_height, lc.clock())
    return confirmations_from(status, await lc.chain.tip_height())


async def confirmed_height(lc: Lifecycle, tx: SettlementTx) -> int | None:
    """Height of the block holding ``tx`` once it has the required confirmations."""
    depth = await confirmations(lc, tx)
    if depth < lc.settings.coordinator.required_confirmations:
        return None
    status = await lc.chain.tx_status(tx.txid)
    return None if status is None else status.block_height


async def sweep_fee_rate(lc: Lifecycle) -> int:
    """sat/kwu for the coordinator's own sweeps (closes, reclaims)."""
    rate = max(
        await lc.wallet.fee_rate(lc.settings.competitions.settlement_fee_target_blocks),
        lc.settings.competitions.contract_fee_floor_sat_vb,
    )
    return sat_per_vb_to_sat_per_kwu(rate)


async def sweep_template(
    lc: Lifecycle, txin: TxIn, prevout: TxOut, spend: InputWeightPrediction, rate_kwu: int
) -> Transaction | None:
    """A one-input transaction paying ``prevout`` (minus the fee) to a new wallet address;
    ``None`` if what is left would be dust."""
    script = address_to_script_pubkey(await lc.wallet.new_address())
    weight = predict_weight([spend], [len(script)])
    value = prevout.value - fee_for_weight(rate_kwu, weight)
    if value <= P2TR_DUST_VALUE:
        return None
    return Transaction(2, (txin,), (TxOut(value, script),), 0)


def uneconomic(prevout: TxOut, spend: InputWeightPrediction, floor_kwu: int) -> bool:
    """True if sweeping ``prevout`` leaves dust even at the floor fee rate."""
    weight = predict_weight([spend], [34])
    return prevout.value - fee_for_weight(floor_kwu, weight) <= P2TR_DUST_VALUE
