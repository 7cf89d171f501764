"""The devnet mempool: accepted transactions, their in-mempool parents and children, and spent
outpoints.

Entries keep arrival order, which is always a valid dependency order: a parent is present
before its child is accepted, and a replacement enters after removing what it replaces.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from devnet.chain.index import scripthash
from devnet.chain.model import ChainTx, Coin
from ticketdlc.bitcoin.tx import OutPoint

MAX_MEMPOOL_TXS: Final = 20_000
MAX_MEMPOOL_WEIGHT: Final = 200_000_000


@dataclass(frozen=True)
class MempoolEntry:
    """An accepted, unconfirmed transaction."""

    ctx: ChainTx
    fee: int
    time: int  # unix time of acceptance
    prevouts: tuple[Coin, ...]
    parents: frozenset[bytes]  # txids of in-mempool transactions it spends
    scripthashes: frozenset[bytes] = field(default=frozenset())


class Mempool:
    """Unconfirmed transactions; callers serialize access."""

    def __init__(self) -> None:
        self._entries: dict[bytes, MempoolEntry] = {}
        self._spenders: dict[OutPoint, tuple[bytes, int]] = {}
        self._children: dict[bytes, set[bytes]] = {}
        self._weight = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, txid: object) -> bool:
        return txid in self._entries

    def __iter__(self) -> Iterator[MempoolEntry]:
        return iter(list(self._entries.values()))

    @property
    def weight(self) -> int:
        return self._weight

    def get(self, txid: bytes) -> MempoolEntry | None:
        return self._entries.get(txid)

    def spender(self, outpoint: OutPoint) -> tuple[bytes, int] | None:
        """``(txid, input index)`` of the mempool transaction spending ``outpoint``."""
        return self._spenders.get(outpoint)

    def coin(self, outpoint: OutPoint, next_height: int) -> Coin | None:
        """An output created by a mempool transaction (spent or not)."""
        entry = self._entries.get(outpoint.txid)
        if entry is None or outpoint.vout >= len(entry.ctx.tx.outputs):
            return None
        out = entry.ctx.tx.outputs[outpoint.vout]
        return Coin(out.value, out.script_pubkey, next_height, in_mempool=True)

    def ancestors(self, parents: Iterable[bytes]) -> set[bytes]:
        """The in-mempool transactions reachable from ``parents`` (``parents`` included)."""
        seen: set[bytes] = set()
        stack = list(parents)
        while stack:
            txid = stack.pop()
            if txid in seen or txid not in self._entries:
                continue
            seen.add(txid)
            stack.extend(self._entries[txid].parents)
        return seen

    def has_room(self, weight: int) -> bool:
        return len(self._entries) < MAX_MEMPOOL_TXS and self._weight + weight <= MAX_MEMPOOL_WEIGHT

    def add(self, entry: MempoolEntry) -> None:
        """Insert an entry the acceptance checks passed."""
        txid = entry.ctx.txid
        touched = {scripthash(out.script_pubkey) for out in entry.ctx.tx.outputs}
        touched.update(scripthash(coin.script_pubkey) for coin in entry.prevouts)
        entry = MempoolEntry(
            entry.ctx, entry.fee, entry.time, entry.prevouts, entry.parents, frozenset(touched)
        )
        self._entries[txid] = entry
        for vin, txin in enumerate(entry.ctx.tx.inputs):
            self._spenders[txin.prevout] = (txid, vin)
        for parent in entry.parents:
            self._children.setdefault(parent, set()).add(txid)
        self._weight += entry.ctx.weight

    def remove(self, txid: bytes) -> MempoolEntry | None:
        """Remove one entry (its descendants are not touched)."""
        entry = self._entries.pop(txid, None)
        if entry is None:
            return None
        for txin in entry.ctx.tx.inputs:
            if self._spenders.get(txin.prevout, (None,))[0] == txid:
                del self._spenders[txin.prevout]
        for parent in entry.parents:
            children = self._children.get(parent)
            if children is not None:
                children.discard(txid)
                if not children:
                    del self._children[parent]
        self._weight -= entry.ctx.weight
        return entry

    def children(self, txid: bytes) -> set[bytes]:
        """Txids of the mempool transactions spending an output of ``txid``."""
        return set(self._children.get(txid, ()))

    def descendants(self, txid: bytes) -> list[bytes]:
        """Txids of every mempool transaction depending on ``txid``, in arrival order."""
        found: set[bytes] = set()
        stack = list(self._children.get(txid, ()))
        while stack:
            child = stack.pop()
            if child not in found:
                found.add(child)
                stack.extend(self._children.get(child, ()))
        return [t for t in self._entries if t in found] if found else []

    def clear(self) -> list[MempoolEntry]:
        """Remove and return every entry, in arrival order."""
        entries = list(self._entries.values())
        self._entries.clear()
        self._spenders.clear()
        self._children.clear()
        self._weight = 0
        return entries

    def for_scripthash(self, digest: bytes) -> list[MempoolEntry]:
        """Entries touching a script hash, newest first."""
        return [e for e in reversed(self._entries.values()) if digest in e.scripthashes]
