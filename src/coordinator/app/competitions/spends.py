"""Which of the contract's spends a transaction found on chain is.

After a restart from a database older than the chain (a crash between a broadcast and its
record, or a restore from backup) the coordinator meets its own settlement transactions as
strangers. The pre-signed ones (outcome, expiry, split) are known by txid; the ones it builds
when they are needed (cooperative close, split close, sweep) pay a fresh wallet address, so
they are recognised by the path their witness takes instead: a key-path spend of an outcome or
split output needs every key of its aggregate (the market maker's among them) and a reclaim or
sellback leaf is the market maker's alone, so either one is the coordinator's own spend.
"""

from __future__ import annotations

from ticketdlc.bitcoin.tx import Transaction
from ticketdlc.contract import SPENDS, Outcome, SignedContract, Spend, WinCondition

#: First byte of a taproot annex (BIP-341): the last witness element, when present.
ANNEX_TAG = 0x50

#: Spends the coordinator signs by itself (with the winners' revealed keys for the closes).
OWN_SPENDS = frozenset(
    {Spend.OUTCOME_CLOSE, Spend.OUTCOME_RECLAIM, Spend.SPLIT_CLOSE, Spend.SPLIT_RECLAIM,
     Spend.SPLIT_SELLBACK}
)  # fmt: skip


def spend_of(
    signed: SignedContract, tx: Transaction, target: Outcome | WinCondition
) -> Spend | None:
    """The spend of ``target``'s output (an outcome's, or a winner's split output) that ``tx``
    makes, read from the witness of its input spending that output; ``None`` if ``tx`` does not
    spend it or its witness takes no path of the contract."""
    info: object
    if isinstance(target, WinCondition):
        output, info = "split", signed.dlc.split_info(target)
        txin, _ = signed.spend_input(Spend.SPLIT_CLOSE, target)
    else:
        output, info = "outcome", signed.dlc.outcome_infos[target]
        txin, _ = signed.spend_input(Spend.OUTCOME_CLOSE, target)
    spending = next((i for i in tx.inputs if i.prevout == txin.prevout), None)
    if spending is None:
        return None
    witness = list(spending.witness)
    if len(witness) >= 2 and witness[-1][:1] == bytes([ANNEX_TAG]):
        witness.pop()
    rules = [(spend, rule) for spend, rule in SPENDS.items() if rule.output == output]
    if len(witness) == 1:
        return next((spend for spend, rule in rules if rule.leaf is None), None)
    if len(witness) >= 2:
        leaf = witness[-2]
        return next(
            (s for s, rule in rules if rule.leaf is not None and rule.leaf(info) == leaf), None
        )
    return None
