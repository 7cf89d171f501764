"""The pages' :class:`~coordinator.app.web.data.CompetitionReader` over the lifecycle's store.

Competitions come newest first without their large documents; the payouts page works out, for
each of the player's entries in a settled competition, what the entry won (the same payout
table the lifecycle pays from) and where its payout stands.
"""

from __future__ import annotations

import uuid

from coordinator.app.competitions.contracts import entry_by_player, outcome_of, params_of
from coordinator.app.web.data import EntryRecord
from coordinator.app.web.views import CompetitionView, PayoutView
from coordinator.domain.competitions.payouts import payout_amount
from coordinator.domain.competitions.records import Competition, Entry, PayoutStatus
from coordinator.domain.competitions.states import State
from coordinator.domain.ports.competitions import CompetitionStore
from coordinator_core.errors import CoordinatorError

#: How many of a player's entries the personal pages list.
OWNER_LIMIT = 500


def competition_view(c: Competition) -> CompetitionView:
    terms = c.terms
    return CompetitionView(
        id=c.id,
        state=c.state.value,
        start=terms.start_observation_date,
        end=terms.end_observation_date,
        signing=terms.signing_date,
        entry_fee_sats=terms.entry_fee,
        pool_sats=terms.total_competition_pool,
        total_entries=c.roster.entries,
        total_allowed_entries=terms.total_allowed_entries,
        places_win=terms.number_of_places_win,
        values_per_entry=terms.number_of_values_per_entry,
        locations=terms.locations,
        coordinator_fee_percentage=terms.coordinator_fee_percentage,
        errors=tuple(f"{e.action}: {e.message}" for e in c.errors.errors),
    )


def entry_record(entry: Entry, status: str = "Entered") -> EntryRecord:
    return EntryRecord(entry.id, entry.competition_id, entry.owner, None, entry.picks,
                       status=status)  # fmt: skip


#: What an entry's status says while its competition is in a state, before any outcome.
_STATE_STATUS: dict[State, str] = {
    State.CREATED: "Entered: waiting for the competition to fill",
    State.COLLECTING_ENTRIES: "Entered: waiting for the competition to fill",
    State.ENTRIES_COLLECTED: "Competition full: the contract is being built",
    State.EVENT_CREATED: "Competition full: the contract is being built",
    State.ENTRIES_SUBMITTED: "Competition full: the contract is being built",
    State.CONTRACT_CREATED: "Contract built: signing",
    State.AWAITING_SIGNATURES: "Contract built: signing",
    State.SIGNING_COMPLETE: "Contract signed: funding soon",
    State.FUNDING_BROADCASTED: "Funding transaction broadcast",
    State.FUNDING_CONFIRMED: "Funded on chain: waiting for the oracle",
    State.FUNDING_SETTLED: "Funded on chain: waiting for the oracle",
    State.AWAITING_ATTESTATION: "Funded on chain: waiting for the oracle",
    State.CANCELLED: "Cancelled",
    State.FAILED: "Failed",
}


class StoreReader:
    """Reads for the pages from a :class:`CompetitionStore`."""

    def __init__(self, store: CompetitionStore, network: str) -> None:
        self.store = store
        self.network = network

    async def competitions(self, limit: int) -> list[CompetitionView]:
        page = await self.store.page(limit)
        return [competition_view(c) for c in page.items]

    async def competition(self, competition_id: uuid.UUID) -> CompetitionView | None:
        c = await self.store.load(competition_id, documents=False)
        return None if c is None else competition_view(c)

    async def entries_of(self, competition_id: uuid.UUID) -> list[EntryRecord]:
        return [entry_record(e) for e in await self.store.entries_of(competition_id)]

    async def entry(self, entry_id: uuid.UUID) -> EntryRecord | None:
        found = await self.store.entry(entry_id)
        return None if found is None else entry_record(found)

    async def _owned(self, pubkey: str) -> list[Entry]:
        page = await self.store.entries_page(pubkey, OWNER_LIMIT)
        return list(page.items)

    async def entries_owned_by(self, pubkey: str) -> list[EntryRecord]:
        """The player's entries, each with where it stands in its competition."""
        owned = await self._owned(pubkey)
        statuses: dict[uuid.UUID, str] = {}
        for competition_id in {e.competition_id for e in owned}:
            c = await self.store.load(competition_id)
            if c is None:
                continue
            mine = [e for e in owned if e.competition_id == competition_id]
            before = _STATE_STATUS.get(c.state)
            if before is not None or c.settled_outcome is None:
                for e in mine:
                    statuses[e.id] = before or c.state.value.replace("_", " ").capitalize()
                continue
            won = {v.entry_id: v for v in await self._won(c, pubkey)}
            for e in mine:
                view = won.get(e.id)
                statuses[e.id] = (
                    "Not in the money" if view is None
                    else f"Won {view.amount_sats:,} sats: {view.status}"
                )  # fmt: skip
        return [entry_record(e, statuses.get(e.id, "Entered")) for e in owned]

    async def payouts_owned_by(self, pubkey: str) -> list[PayoutView]:
        out: list[PayoutView] = []
        for competition_id in sorted({e.competition_id for e in await self._owned(pubkey)}):
            c = await self.store.load(competition_id)
            if c is None or c.settled_outcome is None or c.contract_parameters is None:
                continue
            out += await self._won(c, pubkey)
        return out

    async def _won(self, c: Competition, pubkey: str) -> list[PayoutView]:
        try:
            params = params_of(c)
            weights = params.outcome_payouts[outcome_of(c.settled_outcome or "")]
        except (CoordinatorError, KeyError, ValueError):
            return []
        players = entry_by_player(await self.store.entries_of(c.id))
        views = []
        for player, entry in players.items():
            if entry.owner != pubkey or player not in weights:
                continue
            amount = payout_amount(params.funding_value, weights, player, len(params.players))
            status, can_request = await self._status(c, entry)
            can_claim = c.state is not State.COMPLETED
            views.append(
                PayoutView(c.id, entry.id, entry.ticket_id, amount, status, can_request, can_claim)
            )
        return views

    async def _status(self, c: Competition, entry: Entry) -> tuple[str, bool]:
        payouts = await self.store.payouts_of_entry(entry.id)
        if any(p.status is PayoutStatus.SUCCEEDED for p in payouts):
            return "Paid", False
        if any(p.status is PayoutStatus.PENDING for p in payouts):
            return "Payment in progress", False
        if entry.reclaimed_broadcasted_at is not None:
            return "Claimed on chain", False
        if c.state in (State.DELTA_BROADCASTED, State.COMPLETED):
            return "Lightning window closed: claim on chain", False
        failed = [p for p in payouts if p.status is PayoutStatus.FAILED]
        if failed:
            return f"Last payment failed: {failed[-1].error or 'unknown reason'}", True
        open_for_lightning = c.state is State.OUTCOME_BROADCASTED
        return ("Eligible" if open_for_lightning else "Waiting for the outcome transaction"), (
            open_for_lightning
        )
