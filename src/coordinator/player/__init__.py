"""The headless player client: what the browser does, importable and on the command line.

* :mod:`.identity` — the player's seed file (nostr identity + wallet seed, mode 0600); entry keys
  and payout preimages derive from it and the entry id (``coordinator_core.entry_keys``).
* :mod:`.api` — the coordinator's public JSON API with NIP-98 on every request.
* :mod:`.client` — :class:`Player`: reserve, register, pay, submit, payout, verify, claim.
* :mod:`.verify` — checks of the player's own payout paths in the public contract.
* :mod:`.claim` — the winner's on-chain claim (outcome, split and win transactions).
* :mod:`.public` — the oracle's public facts and the published contract.
* :mod:`.cli` — ``coordinator player …``.

It imports only ``coordinator_core``, ``ticketdlc`` and the Lightning and chain clients.
"""

from coordinator.player.api import ApiError, CoordinatorApi, Ticket
from coordinator.player.claim import Claimant, ClaimProgress, ClaimState, claim_step
from coordinator.player.client import EntryRecord, Player, PlayerState, parse_picks
from coordinator.player.identity import (
    PlayerIdentity,
    create_identity,
    load_identity,
    load_or_create_identity,
)
from coordinator.player.verify import ExpectedTerms, PayoutReport, verify_payout_paths

__all__ = [
    "ApiError",
    "ClaimProgress",
    "ClaimState",
    "Claimant",
    "CoordinatorApi",
    "EntryRecord",
    "ExpectedTerms",
    "PayoutReport",
    "Player",
    "PlayerIdentity",
    "PlayerState",
    "Ticket",
    "claim_step",
    "create_identity",
    "load_identity",
    "load_or_create_identity",
    "parse_picks",
    "verify_payout_paths",
]
