"""Block templates by ancestor package fee rate, as Bitcoin Core's block assembler builds them.

Each candidate is a mempool transaction together with its ancestors not yet in the block; the
candidate with the highest package fee rate goes in first (parents before children), so a
child paying a high fee pulls its low-fee parent into the block (CPFP). Candidates below the
block's minimum fee rate (``-blockmintxfee``, raised to simulate a fee spike) stay out, and so
does anything that depends on them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from fractions import Fraction

from devnet.chain.mempool import Mempool, MempoolEntry
from devnet.chain.model import ChainTx
from devnet.chain.policy import fee_at_rate


def package_of(txid: bytes, ancestors: dict[bytes, set[bytes]], included: set[bytes]) -> set[bytes]:
    """``txid`` and its ancestors that are not in the block yet."""
    return {txid, *(a for a in ancestors[txid] if a not in included)}


def select_transactions(
    mempool: Mempool, min_fee_per_kvb: int, weight_budget: int
) -> tuple[list[ChainTx], int]:
    """The transactions of the next block in a valid order, and their fees."""
    entries: dict[bytes, MempoolEntry] = {e.ctx.txid: e for e in mempool}
    order = {txid: position for position, txid in enumerate(entries)}
    ancestors: dict[bytes, set[bytes]] = {}
    children: dict[bytes, list[bytes]] = {}
    for txid, entry in entries.items():  # arrival order: parents first
        found: set[bytes] = set()
        for parent in entry.parents:
            if parent in entries:
                found.add(parent)
                found |= ancestors[parent]
                children.setdefault(parent, []).append(txid)
        ancestors[txid] = found

    included: set[bytes] = set()
    versions = dict.fromkeys(entries, 0)
    heap: list[tuple[Fraction, int, bytes, int]] = []

    def push(txid: bytes) -> None:
        package = package_of(txid, ancestors, included)
        fee = sum(entries[t].fee for t in package)
        vsize = sum(entries[t].ctx.vsize for t in package)
        heapq.heappush(heap, (-Fraction(fee, vsize), order[txid], txid, versions[txid]))

    for txid in entries:
        push(txid)
    chosen: list[ChainTx] = []
    fees = 0
    while heap:
        _, _, txid, version = heapq.heappop(heap)
        if txid in included or version != versions[txid]:
            continue
        package = package_of(txid, ancestors, included)
        package_fee = sum(entries[t].fee for t in package)
        package_vsize = sum(entries[t].ctx.vsize for t in package)
        if package_fee < fee_at_rate(min_fee_per_kvb, package_vsize):
            break  # every other candidate pays a lower rate
        package_weight = sum(entries[t].ctx.weight for t in package)
        if package_weight > weight_budget:
            continue
        weight_budget -= package_weight
        for member in sorted(package, key=order.__getitem__):
            chosen.append(entries[member].ctx)
            included.add(member)
            fees += entries[member].fee
        for stale in _descendants(package, children):
            if stale not in included:
                versions[stale] += 1
                push(stale)
    return chosen, fees


def _descendants(txids: Iterable[bytes], children: dict[bytes, list[bytes]]) -> set[bytes]:
    found: set[bytes] = set()
    stack = [child for txid in txids for child in children.get(txid, ())]
    while stack:
        txid = stack.pop()
        if txid not in found:
            found.add(txid)
            stack.extend(children.get(txid, ()))
    return found
