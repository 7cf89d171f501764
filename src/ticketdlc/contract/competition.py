"""Contract parameters of a weather competition (coordinator spec §6.4, oracle spec §5).

Players are the competition's entries in the canonical order shared with the oracle (sorted by
entry id), so outcome index ``i`` (the ``i``-th ranking of :class:`OutcomeSpace`) pays the
players the oracle ranked. Ranked outcomes pay by rank; refund-all and expiry split equally.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from ticketdlc.competition.attestation import Announcement
from ticketdlc.competition.ordering import canonical_entry_order
from ticketdlc.competition.payouts import expiry_weights, ranking_weights
from ticketdlc.contract.types import (
    DEFAULT_LAYOUT,
    EXPIRY,
    AnchorParams,
    ContractLayout,
    ContractParameters,
    EventLockingConditions,
    MarketMaker,
    Outcome,
    Player,
)
from ticketdlc.contract.validation import validate_stored
from ticketdlc.crypto.secp import Point


class CompetitionContractError(ValueError):
    """The entries do not match the oracle's announcement."""


@dataclass(frozen=True, slots=True)
class CompetitionEntry:
    """A paid entry: its id (the canonical order key) and its player data."""

    entry_id: uuid.UUID
    pubkey: Point
    ticket_hash: bytes
    payout_hash: bytes


def competition_payouts(
    announcement: Announcement, with_expiry: bool
) -> dict[Outcome, dict[int, int]]:
    """Payout weights of every outcome: rank weights, equal split for refund-all and expiry."""
    space = announcement.space
    payouts: dict[Outcome, dict[int, int]] = {}
    for index, ranking in enumerate(space.rankings()):
        if index == space.refund_index:
            payouts[Outcome.attestation(index)] = expiry_weights(space)
        else:
            payouts[Outcome.attestation(index)] = ranking_weights(ranking)
    if with_expiry:
        payouts[EXPIRY] = expiry_weights(space)
    return payouts


def competition_contract_parameters(
    entries: Iterable[CompetitionEntry],
    announcement: Announcement,
    expiry: int | None,
    places: int,
    market_maker: Point,
    funding_value: int,
    fee_rate: int,
    relative_locktime_block_delta: int,
    layout: ContractLayout = DEFAULT_LAYOUT,
    anchor: AnchorParams | None = None,
) -> ContractParameters:
    """The validated contract parameters of a competition.

    ``entries`` may come in any order: they are indexed by entry id, the order the oracle
    ranks in. ``announcement`` holds the oracle's locking points (one per outcome of its
    outcome space); ``expiry`` is the event's expiry locktime (``None``: no expiry outcome).
    ``fee_rate`` is in sat/kwu. New contracts use the outcome-bound layout. ``anchor`` puts a
    pay-to-anchor output on every settlement transaction (``None``: none).
    """
    entries = list(entries)
    by_id = {entry.entry_id: entry for entry in entries}
    order = canonical_entry_order(entry.entry_id for entry in entries)
    space = announcement.space
    if len(order) != space.entries:
        raise CompetitionContractError(
            f"{len(order)} entries, but the announcement covers {space.entries}"
        )
    if places != space.places:
        raise CompetitionContractError(
            f"{places} places, but the announcement covers {space.places}"
        )
    players = tuple(
        Player(by_id[entry_id].pubkey, by_id[entry_id].ticket_hash, by_id[entry_id].payout_hash)
        for entry_id in order
    )
    params = ContractParameters(
        market_maker=MarketMaker(market_maker),
        players=players,
        event=EventLockingConditions(tuple(announcement.points), expiry),
        outcome_payouts=competition_payouts(announcement, expiry is not None),
        fee_rate=fee_rate,
        funding_value=funding_value,
        relative_locktime_block_delta=relative_locktime_block_delta,
        outcome_bound_splits=layout is ContractLayout.OUTCOME_BOUND,
        anchor=anchor,
    )
    # The legacy layout exists to rebuild contracts agreed before outcome-bound splits; its
    # ranked outcomes share winner sets, which only the stored-contract rules accept.
    validate_stored(params)
    return params
