"""Port of the NIP-98 replay guard: every authorization event the API accepts is used once."""

from __future__ import annotations

from typing import Protocol


class ReplayGuard(Protocol):
    """The event ids the API accepted while their ``created_at`` is inside the freshness window
    (after that the timestamp check refuses them anyway)."""

    async def consume(self, event_id: str, created_at: int, now: int) -> bool:
        """Record ``event_id`` (signed at ``created_at``) as used at ``now``; False if it was
        used before. When ``capacity`` fresh ids are held, raises
        ``coordinator_core.nip98.ReplayGuardFullError`` (503) and records nothing."""
        ...
