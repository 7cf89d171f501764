"""``SigMap``: one value per outcome and per win condition a signer signs (dlctix §8.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from ticketdlc.contract.types import ContractParameters, Outcome, WinCondition
from ticketdlc.crypto.secp import Point

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True, slots=True)
class SigMap(Generic[T]):
    """Values keyed by outcome (outcome transactions) and by win condition (split leaves)."""

    by_outcome: dict[Outcome, T]
    by_win_condition: dict[WinCondition, T]

    def is_mirror(self, other: SigMap[U]) -> bool:
        """True if both maps have exactly the same keys."""
        return self.by_outcome.keys() == other.by_outcome.keys() and (
            self.by_win_condition.keys() == other.by_win_condition.keys()
        )

    def __len__(self) -> int:
        return len(self.by_outcome) + len(self.by_win_condition)


def sigmap_keys_for(params: ContractParameters, pubkey: Point) -> SigMap[None] | None:
    """What ``pubkey`` must sign: every outcome, plus the win conditions of every outcome it
    wins (all of them for the market maker). ``None`` if the key is not part of the contract.
    """
    outcomes: dict[Outcome, None] = dict.fromkeys(params.outcome_payouts)
    if pubkey == params.market_maker.pubkey:
        return SigMap(outcomes, dict.fromkeys(params.win_conditions()))
    index = params.player_index(pubkey)
    if index is None:
        return None
    wins: dict[WinCondition, None] = {}
    for outcome in params.outcome_payouts:
        winners = params.winners(outcome)
        if index in winners:
            for player in winners:
                wins[WinCondition(outcome, player)] = None
    return SigMap(outcomes, wins)
