"""Owed winners: unpaid winners keep their on-chain claim; the coordinator sweeps an owed
winner's output only after an operator approved it (having paid the winner another way) and the
contract's reclaim timelock (2Δ after the split) has passed. No automatic sweep exists."""

from __future__ import annotations

import uuid

from coordinator.app.competitions.context import Lifecycle
from coordinator.domain.competitions.records import OwedWinner
from coordinator_core.errors import ConflictError, NotFoundError


async def approve_sweep(lc: Lifecycle, entry_id: uuid.UUID) -> OwedWinner:
    """Approve sweeping an owed winner's output; refused before its reclaim height."""
    owed = await lc.store.owed(entry_id)
    if owed is None:
        raise NotFoundError(f"entry {entry_id} is not an owed winner")
    if owed.resolved:
        raise ConflictError("this winner's output is already settled")
    tip = await lc.chain.tip_height()
    if tip + 1 < owed.sweepable_at_height:
        raise ConflictError(
            f"the output can be swept from height {owed.sweepable_at_height}; the tip is {tip}"
        )
    await lc.store.approve_sweep(entry_id, lc.clock())
    approved = await lc.store.owed(entry_id)
    assert approved is not None
    return approved
