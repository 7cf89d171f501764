"""The limits of a keymeld 0.10 gateway (keymeld §6, keymeld-0.10 §8).

A real gateway enforces these values; the client assumes them unless configured otherwise, and
the devnet gateway uses them by default (``coordinator dev`` raises them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class GatewayLimits:
    """What one keymeld gateway accepts."""

    max_participants: int = 1000  # expected participants per keygen, coordinator included
    max_subsets: int = 200  # subset definitions per keygen
    max_batch_items: int = 100  # items per signing session (orchestrated API)
    max_signing_sessions: int = 100  # signing sessions per keygen (the manifest's quota)
    max_timeout_secs: int = 86_400  # keygen and signing session timeouts
    max_body_bytes: int = 2 * 1024 * 1024  # request bodies (axum's default limit)

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"gateway limit {name} must be a positive integer")


REAL_GATEWAY: Final = GatewayLimits()
MIN_SUBSET_MEMBERS: Final = 2
MIN_PARTICIPANTS: Final = 2  # the assignment needs the coordinator and one other participant
