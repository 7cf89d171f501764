"""A winner's on-chain claim, without the coordinator (dlctix §7.4, §8.3).

Three transactions take a winner's share from the funding output to an address it chooses:

1. the **outcome transaction** of the attested outcome (its adaptor signature completed with the
   oracle's attestation; the expiry transaction once the event expired unattested), if nobody
   broadcast one yet;
2. the outcome's **split transaction**, unlocked with the player's ticket preimage (which the
   player learned when its hold invoice settled), mined at least Δ blocks after (1);
3. the **split-win spend** of the player's split output with its own entry key and the ticket
   preimage, at the fee rate the player chooses, mined at least Δ blocks after (2).

:func:`claim_step` reads where things stand on chain and takes the next step that is possible
now; it keeps no state, so running it again (or after a crash) is always safe. The player must
get (2) confirmed before the market maker may reclaim the outcome output (2Δ after (1)) and
(3) before it may reclaim the split output (2Δ after (2)).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Protocol

from coordinator.domain.ports.chain import BroadcastRejectedError, OutputSpend, TxStatus
from ticketdlc.bitcoin.fees import P2TR_DUST_VALUE, predict_weight
from ticketdlc.bitcoin.tx import Transaction, TxOut
from ticketdlc.contract import EXPIRY, Outcome, SignedContract, Spend, SpendError, WinCondition

#: Reject reasons that mean "not yet": a time lock that has not passed.
_NOT_YET = ("non-final", "non-BIP68-final")
LOCKTIME_THRESHOLD = 500_000_000  # nLockTime below this is a height, above it a unix time


class ChainView(Protocol):
    """What a claim reads and writes on chain (the Esplora client provides it)."""

    async def tip_height(self) -> int: ...

    async def broadcast(self, raw_tx: bytes) -> str: ...

    async def tx_status(self, txid: str) -> TxStatus | None: ...

    async def output_spend(self, txid: str, vout: int) -> OutputSpend | None: ...

    async def median_time_past(self) -> int: ...

    async def raw_transaction(self, txid: str) -> bytes | None: ...


class ClaimState(enum.Enum):
    """Where a claim stands after one step."""

    WAITING = "waiting"  # nothing can be done until the chain moves on (see ready_at_height)
    BROADCAST = "broadcast"  # a transaction was just broadcast
    CLAIMED = "claimed"  # the player's split output is spent by its own win transaction
    NOTHING_TO_CLAIM = "nothing_to_claim"  # the settled outcome pays this player nothing
    TAKEN = "taken"  # the player's output went elsewhere (closed, sold back or reclaimed)


@dataclass(frozen=True)
class ClaimProgress:
    """The result of one :func:`claim_step`."""

    state: ClaimState
    detail: str
    txid: str | None = None
    ready_at_height: int | None = None
    outcome: Outcome | None = None

    @property
    def finished(self) -> bool:
        return self.state in (ClaimState.CLAIMED, ClaimState.NOTHING_TO_CLAIM, ClaimState.TAKEN)


@dataclass(frozen=True)
class Claimant:
    """What the winner brings: its player index, entry key, ticket preimage, where to be paid."""

    player_index: int
    entry_secret: bytes
    ticket_preimage: bytes
    destination_script: bytes
    fee_rate_sat_vb: int

    def check(self, signed: SignedContract) -> None:
        """Refuse a claimant whose keys or ticket are not those of the contract's player."""
        players = signed.params.players
        if not 0 <= self.player_index < len(players):
            raise SpendError(f"player index {self.player_index} is not in the contract")
        player = players[self.player_index]
        if hashlib.sha256(self.ticket_preimage).digest() != player.ticket_hash:
            raise SpendError("the ticket preimage does not match the contract's ticket hash")
        if self.fee_rate_sat_vb < 1:
            raise SpendError("the fee rate must be at least 1 sat/vB")


def win_transaction(signed: SignedContract, win: WinCondition, claimant: Claimant) -> Transaction:
    """The signed split-win spend paying the claimant's output (less the fee) to its script."""
    txin, prevout = signed.spend_input(Spend.SPLIT_WIN, win)
    weight = predict_weight(
        [signed.spend_input_weight(Spend.SPLIT_WIN, win)], [len(claimant.destination_script)]
    )
    fee = -(-claimant.fee_rate_sat_vb * weight // 4)  # sat/vB × vbytes, rounded up
    value = prevout.value - fee
    if value <= P2TR_DUST_VALUE:
        raise SpendError(
            f"a fee of {fee} sats at {claimant.fee_rate_sat_vb} sat/vB leaves {value} sats "
            f"of the {prevout.value} sat output: choose a lower fee rate"
        )
    template = Transaction(2, [txin], [TxOut(value, claimant.destination_script)], 0)
    return signed.sign_spend(
        Spend.SPLIT_WIN,
        win,
        template,
        0,
        [prevout],
        preimage=claimant.ticket_preimage,
        player_secret=claimant.entry_secret,
    )


def _outcome_of_tx(signed: SignedContract, txid: str) -> Outcome | None:
    for outcome, tx in signed.dlc.outcome_txs.items():
        if tx.txid_hex() == txid:
            return outcome
    return None


async def _confirmed_height(chain: ChainView, txid: str) -> int | None:
    status = await chain.tx_status(txid)
    if status is None or not status.confirmed:
        return None
    return status.block_height


async def _broadcast(chain: ChainView, tx: Transaction, what: str) -> ClaimProgress | None:
    """Broadcast; ``None`` when a time lock has not passed yet (the caller reports waiting)."""
    try:
        txid = await chain.broadcast(tx.serialize())
    except BroadcastRejectedError as exc:
        if exc.reason.startswith(_NOT_YET):
            return None
        raise
    return ClaimProgress(ClaimState.BROADCAST, f"broadcast the {what}", txid)


async def _expiry_reached(chain: ChainView, locktime: int) -> bool:
    if locktime < LOCKTIME_THRESHOLD:
        return await chain.tip_height() + 1 > locktime
    return await chain.median_time_past() > locktime


async def claim_step(
    chain: ChainView,
    signed: SignedContract,
    claimant: Claimant,
    attestation: int | None,
) -> ClaimProgress:
    """Take the next possible step of the claim (see the module docstring)."""
    claimant.check(signed)
    dlc = signed.dlc
    funding = dlc.funding_outpoint
    spend = await chain.output_spend(funding.txid_hex, funding.vout)
    if spend is None:
        return ClaimProgress(ClaimState.WAITING, "the funding transaction is not on chain yet")
    if not spend.spent:
        return await _publish_outcome(chain, signed, attestation)
    assert spend.txid is not None
    outcome = _outcome_of_tx(signed, spend.txid)
    if outcome is None:
        return ClaimProgress(
            ClaimState.TAKEN,
            f"the funding output was spent by {spend.txid}, which is no outcome transaction "
            "(a cooperative close)",
            spend.txid,
        )
    if claimant.player_index not in signed.params.winners(outcome):
        return ClaimProgress(
            ClaimState.NOTHING_TO_CLAIM, f"outcome {outcome} pays this player nothing", None,
            outcome=outcome,
        )  # fmt: skip
    return await _claim_split(chain, signed, claimant, outcome, spend.txid)


async def _publish_outcome(
    chain: ChainView, signed: SignedContract, attestation: int | None
) -> ClaimProgress:
    if attestation is not None:
        outcome = signed.outcome_of_attestation(attestation)
        assert outcome.index is not None
        tx = signed.signed_outcome_tx(outcome.index, attestation)
        done = await _broadcast(chain, tx, f"outcome transaction of {outcome}")
        if done is None:
            raise SpendError("the outcome transaction was refused as not final")
        return ClaimProgress(done.state, done.detail, done.txid, outcome=outcome)
    expiry_tx = signed.expiry_tx()
    expiry = signed.params.event.expiry
    if expiry_tx is None or expiry is None:
        return ClaimProgress(ClaimState.WAITING, "waiting for the oracle's attestation")
    if await _expiry_reached(chain, expiry):
        done = await _broadcast(chain, expiry_tx, "expiry transaction")
        if done is not None:
            return ClaimProgress(done.state, done.detail, done.txid, outcome=EXPIRY)
    ready = expiry + 1 if expiry < LOCKTIME_THRESHOLD else None
    return ClaimProgress(
        ClaimState.WAITING,
        f"no attestation yet; the expiry transaction becomes valid after locktime {expiry}",
        ready_at_height=ready,
    )


async def _claim_split(
    chain: ChainView,
    signed: SignedContract,
    claimant: Claimant,
    outcome: Outcome,
    outcome_txid: str,
) -> ClaimProgress:
    dlc = signed.dlc
    delta = signed.params.relative_locktime_block_delta
    win = WinCondition(outcome, claimant.player_index)
    outcome_height = await _confirmed_height(chain, outcome_txid)
    if outcome_height is None:
        return ClaimProgress(
            ClaimState.WAITING, f"the outcome transaction {outcome_txid} is unconfirmed",
            outcome_txid, outcome=outcome,
        )  # fmt: skip
    split_tx = dlc.split_txs[outcome]
    split_txid = split_tx.txid_hex()
    spend = await chain.output_spend(outcome_txid, 0)
    if spend is None or not spend.spent:
        ready = outcome_height + delta - 1  # the split may be mined in block outcome + Δ
        if await chain.tip_height() < ready:
            return ClaimProgress(
                ClaimState.WAITING,
                f"the split transaction may be broadcast once the tip reaches {ready}",
                ready_at_height=ready, outcome=outcome,
            )  # fmt: skip
        done = await _broadcast(
            chain, signed.signed_split_tx(win, claimant.ticket_preimage), "split transaction"
        )
        if done is None:
            return ClaimProgress(
                ClaimState.WAITING, "the split transaction is not final yet",
                ready_at_height=ready + 1, outcome=outcome,
            )  # fmt: skip
        return ClaimProgress(done.state, done.detail, done.txid, outcome=outcome)
    if spend.txid != split_txid:
        return ClaimProgress(
            ClaimState.TAKEN,
            f"the outcome output was spent by {spend.txid}, not by the split transaction "
            "(a cooperative close or the market maker's reclaim)",
            spend.txid, outcome=outcome,
        )  # fmt: skip
    return await _claim_win(chain, signed, claimant, win, split_txid)


async def _claim_win(
    chain: ChainView,
    signed: SignedContract,
    claimant: Claimant,
    win: WinCondition,
    split_txid: str,
) -> ClaimProgress:
    outcome = win.outcome
    split_height = await _confirmed_height(chain, split_txid)
    if split_height is None:
        return ClaimProgress(
            ClaimState.WAITING, f"the split transaction {split_txid} is unconfirmed",
            split_txid, outcome=outcome,
        )  # fmt: skip
    vout = signed.dlc.split_output_index(win)
    spend = await chain.output_spend(split_txid, vout)
    if spend is not None and spend.spent:
        if await _spent_by_win_leaf(chain, signed, win, spend):
            # In the mempool it is waiting for a block: BROADCAST means "just broadcast now".
            confirmed = spend.status is not None and spend.status.confirmed
            return ClaimProgress(
                ClaimState.CLAIMED if confirmed else ClaimState.WAITING,
                "the win transaction is " + ("confirmed" if confirmed else "in the mempool"),
                spend.txid, outcome=outcome,
            )  # fmt: skip
        return ClaimProgress(
            ClaimState.TAKEN,
            f"the split output was spent by {spend.txid} (sold back, closed or reclaimed)",
            spend.txid, outcome=outcome,
        )  # fmt: skip
    ready = split_height + signed.params.relative_locktime_block_delta - 1
    if await chain.tip_height() < ready:
        return ClaimProgress(
            ClaimState.WAITING,
            f"the win transaction may be broadcast once the tip reaches {ready}",
            ready_at_height=ready, outcome=outcome,
        )  # fmt: skip
    done = await _broadcast(chain, win_transaction(signed, win, claimant), "win transaction")
    if done is None:
        return ClaimProgress(
            ClaimState.WAITING, "the win transaction is not final yet",
            ready_at_height=ready + 1, outcome=outcome,
        )  # fmt: skip
    return ClaimProgress(done.state, done.detail, done.txid, outcome=outcome)


async def _spent_by_win_leaf(
    chain: ChainView, signed: SignedContract, win: WinCondition, spend: OutputSpend
) -> bool:
    """True if ``spend`` took the output through the win leaf, which only the winner can sign
    (an earlier claim of this player at another fee rate or to another address)."""
    assert spend.txid is not None and spend.vin is not None
    raw = await chain.raw_transaction(spend.txid)
    if raw is None:
        return False
    tx = Transaction.parse(raw)
    if spend.vin >= len(tx.inputs):
        return False
    witness = tx.inputs[spend.vin].witness
    return len(witness) == 4 and witness[2] == signed.dlc.split_info(win).win_script
