"""Replace-by-fee as Bitcoin Core 30 applies it (full RBF: no opt-in signal needed).

A transaction that spends an outpoint a mempool transaction already spends replaces it, with
its descendants, when it pays for that: a higher fee rate than each transaction it conflicts
with directly (rule 6), at most 100 transactions evicted (rule 5), no new unconfirmed inputs
(rule 2), at least the fees of everything evicted (rule 3) plus the incremental relay fee for
its own size (rule 4). A CPFP child is replaced this way by a child paying more; the parent
stays. Reasons and details are worded as Core words them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from devnet.chain.mempool import Mempool
from devnet.chain.model import ChainTx
from devnet.chain.policy import (
    INCREMENTAL_RELAY_FEE_PER_KVB,
    TxRejectedError,
    fee_at_rate,
    format_fee_rate,
    format_money,
)

MAX_REPLACEMENT_CANDIDATES: Final = 100
PACKAGE_RBF: Final = "package RBF failed: "


def _display(txid: bytes) -> str:
    return txid[::-1].hex()


def _higher_rate(fee: int, vsize: int, other_fee: int, other_vsize: int) -> bool:
    return fee * other_vsize > other_fee * vsize


def evicted_by(mempool: Mempool, conflicts: Iterable[bytes]) -> list[bytes]:
    """The direct conflicts and all their descendants, in arrival order."""
    found: set[bytes] = set()
    for txid in conflicts:
        found.add(txid)
        found.update(mempool.descendants(txid))
    return [entry.ctx.txid for entry in mempool if entry.ctx.txid in found]


def check_disjoint(ctx: ChainTx, ancestors: set[bytes], conflicts: set[bytes]) -> None:
    """A replacement must not spend (directly or not) a transaction it replaces."""
    for txid in ancestors & conflicts:
        raise TxRejectedError(
            "bad-txns-spends-conflicting-tx",
            f"{ctx.txid_hex} spends conflicting transaction {_display(txid)}",
        )


def _pays_for_rbf(txid: bytes, original_fees: int, fee: int, vsize: int) -> str | None:
    if fee < original_fees:
        return (
            f"rejecting replacement {_display(txid)}, less fees than conflicting txs; "
            f"{format_money(fee)} < {format_money(original_fees)}"
        )
    relay = fee_at_rate(INCREMENTAL_RELAY_FEE_PER_KVB, vsize)
    if fee - original_fees < relay:
        return (
            f"rejecting replacement {_display(txid)}, not enough additional fees to relay; "
            f"{format_money(fee - original_fees)} < {format_money(relay)}"
        )
    return None


def _too_many(txid: bytes, evicted: Sequence[bytes]) -> str | None:
    if len(evicted) > MAX_REPLACEMENT_CANDIDATES:
        return (
            f"rejecting replacement {_display(txid)}; too many potential replacements "
            f"({len(evicted)} > {MAX_REPLACEMENT_CANDIDATES})"
        )
    return None


def check_replacement(
    mempool: Mempool, ctx: ChainTx, fee: int, conflicts: set[bytes]
) -> list[bytes]:
    """Core's ``ReplacementChecks`` for one transaction; returns the txids it evicts."""
    txid, vsize = ctx.txid, ctx.vsize
    for conflict in conflicts:
        entry = mempool.get(conflict)
        assert entry is not None
        if not _higher_rate(fee, vsize, entry.fee, entry.ctx.vsize):
            raise TxRejectedError(
                "insufficient fee",
                f"rejecting replacement {ctx.txid_hex}; new feerate {format_fee_rate(fee, vsize)}"
                f" <= old feerate {format_fee_rate(entry.fee, entry.ctx.vsize)}",
            )
    evicted = evicted_by(mempool, conflicts)
    if (too_many := _too_many(txid, evicted)) is not None:
        raise TxRejectedError("too many potential replacements", too_many)
    parents_of_conflicts = {
        txin.prevout.txid for conflict in conflicts for txin in _tx_of(mempool, conflict).tx.inputs
    }
    for index, txin in enumerate(ctx.tx.inputs):
        if txin.prevout.txid not in parents_of_conflicts and txin.prevout.txid in mempool:
            raise TxRejectedError(
                "replacement-adds-unconfirmed",
                f"replacement {ctx.txid_hex} adds unconfirmed input, idx {index}",
            )
    original_fees = sum(_entry_fee(mempool, t) for t in evicted)
    if (short := _pays_for_rbf(txid, original_fees, fee, vsize)) is not None:
        raise TxRejectedError("insufficient fee", short)
    return evicted


def check_package_replacement(
    mempool: Mempool,
    members: Sequence[tuple[ChainTx, int, frozenset[bytes]]],
    conflicts: set[bytes],
) -> list[bytes]:
    """Core's package RBF for a parent and its child (``(tx, fee, mempool parents)`` each).

    Returns the txids evicted. Raises :class:`TxRejectedError` whose reason is the package
    message (``package RBF failed: …``).
    """
    if len(members) != 2:
        raise TxRejectedError(PACKAGE_RBF + "package must be 1-parent-1-child")
    if any(parents for _, _, parents in members):
        raise TxRejectedError(PACKAGE_RBF + "new transaction cannot have mempool ancestors")
    child = members[-1][0]
    evicted = evicted_by(mempool, conflicts)
    if (too_many := _too_many(child.txid, evicted)) is not None:
        raise TxRejectedError(PACKAGE_RBF + "too many potential replacements", too_many)
    fee = sum(member_fee for _, member_fee, _ in members)
    vsize = sum(tx.vsize for tx, _, _ in members)
    original_fees = sum(_entry_fee(mempool, t) for t in evicted)
    if (short := _pays_for_rbf(child.txid, original_fees, fee, vsize)) is not None:
        raise TxRejectedError(PACKAGE_RBF + "insufficient anti-DoS fees", short)
    parent, parent_fee, _ = members[0]
    if not _higher_rate(fee, vsize, parent_fee, parent.vsize):
        raise TxRejectedError(
            PACKAGE_RBF + "package feerate is less than or equal to parent feerate",
            f"package feerate {format_fee_rate(fee, vsize)} <= parent feerate is "
            f"{format_fee_rate(parent_fee, parent.vsize)}",
        )
    # The package must be a better chunk than each cluster it replaces.
    for conflict in conflicts:
        cluster = [conflict, *mempool.descendants(conflict)]
        cluster_fee = sum(_entry_fee(mempool, t) for t in cluster)
        cluster_vsize = sum(_tx_vsize(mempool, t) for t in cluster)
        if not _higher_rate(fee, vsize, cluster_fee, cluster_vsize):
            raise TxRejectedError(
                PACKAGE_RBF + "insufficient feerate: does not improve feerate diagram"
            )
    return evicted


def _tx_of(mempool: Mempool, txid: bytes) -> ChainTx:
    entry = mempool.get(txid)
    assert entry is not None
    return entry.ctx


def _entry_fee(mempool: Mempool, txid: bytes) -> int:
    entry = mempool.get(txid)
    assert entry is not None
    return entry.fee


def _tx_vsize(mempool: Mempool, txid: bytes) -> int:
    return _tx_of(mempool, txid).vsize
