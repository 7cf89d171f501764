"""What fee bumping stores (competitions.db in practice): the settlement transactions it
watches and every CPFP child, persisted before it is broadcast.

A parent's *current* child is its newest child not abandoned; only a current child is ever
(re)broadcast, and only one child per parent can confirm (they all spend its anchor), so the
current children of a competition are what its bumping costs at most.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from coordinator.domain.fee_bumping import Reason
from ticketdlc.typed_bytes import Txid


@dataclass(frozen=True)
class WatchedParent:
    """A settlement transaction fee bumping looks after."""

    txid: Txid
    competition_id: uuid.UUID
    kind: str  # the settlement transaction's kind (outcome, split …)
    first_seen_height: int  # the tip when it was first seen unconfirmed


@dataclass(frozen=True)
class BumpChild:
    """A CPFP child of a settlement transaction."""

    txid: Txid
    competition_id: uuid.UUID
    parent_txid: Txid
    raw_hex: str
    fee_sats: int
    vsize: int
    package_rate: int  # sat/kwu of parent and child together
    coins: tuple[str, ...]  # the wallet's outpoints it spends ("txid:vout")
    reason: Reason
    created_at: dt.datetime
    broadcast_at: dt.datetime | None = None
    broadcast_height: int | None = None  # the tip when the chain accepted it
    abandoned_at: dt.datetime | None = None  # never to be broadcast (again)
    abandon_reason: str | None = None
    confirmed_height: int | None = None

    @property
    def live(self) -> bool:
        return self.abandoned_at is None


class CpfpStore(Protocol):
    async def watch(
        self, txid: Txid, competition_id: uuid.UUID, kind: str, tip: int
    ) -> WatchedParent:
        """The watched parent ``txid``, recorded with ``tip`` the first time it is seen."""
        ...

    async def insert_child(self, child: BumpChild) -> None:
        """Persist a child before it is broadcast. A second insert of a live child is a no-op;
        an abandoned child built again (the same transaction) becomes the newest child."""
        ...

    async def children_of(self, parent_txid: Txid) -> list[BumpChild]:
        """Every child of a parent, oldest first."""
        ...

    async def children_of_competition(self, competition_id: uuid.UUID) -> list[BumpChild]:
        """Every child of a competition's transactions, oldest first."""
        ...

    async def mark_child_broadcast(self, txid: Txid, at: dt.datetime, height: int) -> None: ...

    async def abandon_child(self, txid: Txid, at: dt.datetime, reason: str) -> None: ...

    async def mark_child_confirmed(self, txid: Txid, height: int) -> None: ...


def current_child(children: Sequence[BumpChild]) -> BumpChild | None:
    """The newest child not abandoned."""
    return next((c for c in reversed(children) if c.live), None)


def committed_fees(children: Sequence[BumpChild], parents: Collection[str] | None = None) -> int:
    """What the current children of a competition's transactions pay together (only those of
    ``parents`` if given: e.g. leaving out the one about to get a new child)."""
    current: dict[str, BumpChild] = {}
    for child in children:
        if child.live:
            current[child.parent_txid] = child
    return sum(c.fee_sats for p, c in current.items() if parents is None or p in parents)
