"""A competition's contract objects, rebuilt from what is stored (and cached: they are large)."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from coordinator.domain.competitions.records import Competition, Entry, Ticket
from coordinator.domain.competitions.terms import CompetitionTerms
from coordinator_core.errors import PermanentError
from ticketdlc.bitcoin.tx import OutPoint
from ticketdlc.competition import Announcement, OutcomeSpace
from ticketdlc.contract import (
    ContractParameters,
    ContractSignatures,
    Outcome,
    SignedContract,
    TicketedDLC,
)
from ticketdlc.contract.jsoncodec import params_from_json
from ticketdlc.crypto.secp import Point

CACHE_SIZE: Final = 8


def winner_sets(space: OutcomeSpace) -> list[frozenset[int]]:
    """The distinct winner sets of every outcome (ranked, refund-all and expiry), in order of
    first appearance: the signer subsets of the competition's keygen session."""
    seen: dict[frozenset[int], None] = {}
    for ranking in space.rankings():
        seen.setdefault(frozenset(ranking), None)
    seen.setdefault(frozenset(range(space.entries)), None)  # expiry pays everyone
    return list(seen)


def announcement_of(competition: Competition) -> tuple[Announcement, int | None]:
    """The stored oracle announcement (the one the contract was built on) and its expiry."""
    stored = competition.event_announcement
    if stored is None:
        raise PermanentError("the competition has no oracle announcement")
    terms = competition.terms
    space = OutcomeSpace(terms.total_allowed_entries, terms.number_of_places_win)
    points = [Point.from_bytes(bytes.fromhex(p)) for p in stored["locking_points"]]
    expiry = stored.get("expiry")
    return Announcement(space, points), None if expiry is None else int(expiry)


def params_of(competition: Competition) -> ContractParameters:
    if competition.contract_parameters is None:
        raise PermanentError("the competition has no contract parameters")
    return params_from_json(competition.contract_parameters)


def funding_outpoint_of(competition: Competition) -> OutPoint:
    if competition.funding_outpoint is None:
        raise PermanentError("the competition has no funding outpoint")
    return OutPoint.parse(competition.funding_outpoint)


def outcome_of(settled: str) -> Outcome:
    return Outcome.parse(settled)


class ContractCache:
    """Rebuilt contracts by competition (building one is CPU-heavy: done in a thread)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._dlcs: OrderedDict[uuid.UUID, TicketedDLC] = OrderedDict()
        self._signed: OrderedDict[uuid.UUID, SignedContract] = OrderedDict()

    async def dlc(self, competition: Competition) -> TicketedDLC:
        found = self._dlcs.get(competition.id)
        if found is None:
            params = params_of(competition)
            outpoint = funding_outpoint_of(competition)
            found = await asyncio.to_thread(TicketedDLC.rebuild, params, outpoint)
            self._put(self._dlcs, competition.id, found)
        return found

    async def signed(self, competition: Competition) -> SignedContract:
        found = self._signed.get(competition.id)
        if found is None:
            if competition.signed_contract is None:
                raise PermanentError("the competition has no signed contract")
            dlc = await self.dlc(competition)
            signatures = ContractSignatures.from_json(competition.signed_contract["signatures"])
            # Verified before it was stored; rebuilt here from our own store.
            found = SignedContract.unchecked(dlc, signatures)
            self._put(self._signed, competition.id, found)
        return found

    def _put(self, cache: OrderedDict[uuid.UUID, Any], key: uuid.UUID, value: Any) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > self._size:
            cache.popitem(last=False)

    def forget(self, competition_id: uuid.UUID) -> None:
        self._dlcs.pop(competition_id, None)
        self._signed.pop(competition_id, None)


def player_entries(
    entries: Sequence[Entry], tickets: Sequence[Ticket]
) -> list[tuple[Entry, Ticket]]:
    """Entries with their tickets in canonical player order (entry id = ticket order)."""
    by_ticket = {t.id: t for t in tickets}
    return [(e, by_ticket[e.ticket_id]) for e in sorted(entries, key=lambda e: e.id.int)]


def entry_by_player(entries: Sequence[Entry]) -> Mapping[int, Entry]:
    return dict(enumerate(sorted(entries, key=lambda e: e.id.int)))


def space_of(terms: CompetitionTerms) -> OutcomeSpace:
    return OutcomeSpace(terms.total_allowed_entries, terms.number_of_places_win)
