"""JSON shapes of the competition API: request models (validated, bounded) and responses.

Field names follow the upstream coordinator (§4.3), so its clients work unchanged; additions
are noted. Timestamps are RFC 3339 UTC or null; bytes are lower-case hex. Secrets a player
revealed are never returned.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from coordinator.domain.competitions.records import (
    Competition,
    Entry,
    OwedWinner,
    Payout,
    PayoutHold,
    SettlementTx,
    Ticket,
)
from coordinator.domain.competitions.terms import CompetitionTerms, terms_to_json
from coordinator.domain.ports.signer import RegistrationSlot
from coordinator_core.observations import DEFAULT_METRICS, Metric, StationPicks
from coordinator_core.oracle_api import rfc3339

Hex = Annotated[str, StringConstraints(pattern=r"^([0-9a-fA-F]{2})*$", max_length=131_072)]
Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
Hex33 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{66}$")]
Station = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{3,8}$")]
Encrypted = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Invoice = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CreateEventBody(_Body):
    """``POST /api/v1/competitions`` (upstream ``CreateEvent``), on the admin listener."""

    id: uuid.UUID
    signing_date: AwareDatetime
    start_observation_date: AwareDatetime
    end_observation_date: AwareDatetime
    locations: list[Station] = Field(min_length=1, max_length=50)
    number_of_values_per_entry: int = Field(ge=1, le=1000)
    number_of_places_win: int = Field(ge=1, le=100)
    total_allowed_entries: int = Field(ge=1, le=1000)
    entry_fee: int = Field(ge=1, le=100_000_000)
    coordinator_fee_percentage: int = Field(0, ge=0, le=100)
    total_competition_pool: int | None = Field(None, ge=1, le=21_000_000 * 100_000_000)
    relative_locktime_block_delta: int | None = Field(None, ge=1, le=32_767)
    scoring_fields: list[Metric] | None = Field(None, min_length=1, max_length=len(Metric))

    def terms(self, default_delta: int) -> CompetitionTerms:
        return CompetitionTerms(
            id=self.id,
            signing_date=self.signing_date,
            start_observation_date=self.start_observation_date,
            end_observation_date=self.end_observation_date,
            locations=tuple(self.locations),
            number_of_values_per_entry=self.number_of_values_per_entry,
            number_of_places_win=self.number_of_places_win,
            total_allowed_entries=self.total_allowed_entries,
            entry_fee=self.entry_fee,
            coordinator_fee_percentage=self.coordinator_fee_percentage,
            total_competition_pool=self.total_competition_pool
            or self.entry_fee * self.total_allowed_entries,
            relative_locktime_block_delta=self.relative_locktime_block_delta or default_delta,
            scoring_fields=tuple(self.scoring_fields or DEFAULT_METRICS),
        )


class TicketBody(_Body):
    """``POST …/ticket``: nothing is needed; ``btc_pubkey`` (escrow mode upstream) is ignored."""

    btc_pubkey: Hex33 | None = None


class RegistrationBody(_Body):
    """The player's sealed registration (``coordinator_core.keymeld.registration``)."""

    user_id: uuid.UUID | None = None  # if given, the ticket id
    # The epoch the envelope was sealed for (the slot offer's); if omitted, the slot's current.
    enclave_key_epoch: int | None = Field(None, ge=0, lt=2**63)
    public_key: Hex33
    auth_pubkey: Hex33
    encrypted_envelope: Annotated[str, StringConstraints(pattern=r"^([0-9a-fA-F]{2})+$")] = Field(
        max_length=131_072
    )


class EntryBody(_Body):
    """``POST /api/v1/entries`` (upstream ``AddEntry``); ``id`` is the ticket's entry id."""

    id: uuid.UUID
    ticket_id: uuid.UUID
    event_id: uuid.UUID
    ephemeral_pubkey: Hex33
    ephemeral_privatekey_encrypted: Encrypted | None = None  # the player's own backup
    payout_hash: Hex32
    payout_preimage_encrypted: Encrypted | None = None
    expected_observations: list[StationPicks] = Field(min_length=1, max_length=50)
    # Upstream fields for server-side registration, superseded by …/registration.
    encrypted_keymeld_private_key: Annotated[str, StringConstraints(max_length=8192)] | None = None
    keymeld_auth_pubkey: Hex33 | None = None


class PayoutBody(_Body):
    """``POST …/entries/{entry_id}/payout`` (upstream ``PayoutInfo``)."""

    ticket_id: uuid.UUID
    payout_preimage: Hex32
    ephemeral_private_key: Hex32
    ln_invoice: Invoice


class WalletSendBody(_Body):
    address_to: Annotated[str, StringConstraints(min_length=14, max_length=100)]
    amount: int | None = Field(None, ge=1)
    max_fee: int | None = Field(None, ge=0)
    fee_rate: int | None = Field(None, ge=1, le=10_000)
    address_from: Annotated[str, StringConstraints(min_length=14, max_length=100)] | None = None


def _t(value: dt.datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


def competition_json(c: Competition, *, signed_contract: bool = True) -> dict[str, Any]:
    """Upstream ``ExtendCompetition`` (§4.3.3), plus ``keygen_opened_at``, ``attested_at``,
    ``invoices_settled_at``, ``invoices_released_at``, ``settled_outcome``, ``cancel_reason``,
    ``total_tickets`` and ``ticket_price_sats``."""
    p = c.progress
    funded = p.funding_broadcasted_at is not None
    return {
        "id": str(c.id),
        "created_at": _t(p.created_at),
        "event_submission": terms_to_json(c.terms),
        "total_tickets": c.roster.total_tickets,
        "total_entries": c.roster.entries,
        "total_entry_nonces": 0,
        "total_signed_entries": 0,
        "total_paid_entries": c.roster.paid_entries,
        "total_paid_out_entries": c.paid_out_entries,
        "ticket_price_sats": c.terms.ticket_price_sats,
        "event_announcement": c.event_announcement,
        "funding_transaction": c.funding_transaction if funded else None,
        "funding_outpoint": c.funding_outpoint,
        "funding_psbt_base64": c.funding_psbt,
        "outcome_transaction": c.outcome_transaction,
        "contract_parameters": c.contract_parameters,
        "public_nonces": None,
        "aggregated_nonces": None,
        "partial_signatures": None,
        "signed_contract": c.signed_contract if signed_contract else None,
        "attestation": c.attestation,
        "settled_outcome": c.settled_outcome,
        "cancel_reason": c.cancel_reason,
        "cancelled_at": _t(p.cancelled_at),
        "keygen_opened_at": _t(p.keygen_opened_at),
        "contracted_at": _t(p.contracted_at),
        "signed_at": _t(p.signed_at),
        "event_created_at": _t(p.event_created_at),
        "entries_submitted_at": _t(p.entries_submitted_at),
        "escrow_funds_confirmed_at": None,
        "funding_broadcasted_at": _t(p.funding_broadcasted_at),
        "invoices_settled_at": _t(p.invoices_settled_at),
        "funding_confirmed_at": _t(p.funding_confirmed_at),
        "funding_settled_at": _t(p.funding_settled_at),
        "awaiting_attestation_at": _t(p.awaiting_attestation_at),
        "attested_at": _t(p.attested_at),
        "expiry_broadcasted_at": _t(p.expiry_broadcasted_at),
        "outcome_broadcasted_at": _t(p.outcome_broadcasted_at),
        "delta_broadcasted_at": _t(p.delta_broadcasted_at),
        "completed_at": _t(p.completed_at),
        "failed_at": _t(p.failed_at),
        "invoices_released_at": _t(p.invoices_released_at),
        "keymeld_keygen_completed_at": _t(p.keymeld_keygen_completed_at),
        "errors": [e.to_json() for e in c.errors.errors] or None,
        "state": c.state.value,
    }


def history_json(c: Competition) -> list[dict[str, str]]:
    return [{"milestone": name, "at": rfc3339(at)} for name, at in c.progress.history()]


def ticket_json(ticket: Ticket, price_sats: int, gateway_url: str | None) -> dict[str, Any]:
    """Upstream ``TicketResponse`` plus ``entry_id`` and ``invoice_expires_at``."""
    return {
        "ticket_id": str(ticket.id),
        "entry_id": str(ticket.entry_id),
        "payment_request": ticket.payment_request,
        "escrow_tx": None,
        "payment_hash": ticket.hash.hex(),
        "amount_sats": price_sats,
        "invoice_expires_at": _t(ticket.invoice_expires_at),
        "keymeld_user_id": str(ticket.id),
        "keymeld_gateway_url": gateway_url,
        "keymeld_session_id": None,
        "keymeld_enclave_public_key": None,
    }


def slot_json(slot: RegistrationSlot) -> dict[str, Any]:
    """The slot offer a player seals its key for (hex bytes)."""
    return {"user_id": slot.user_id, **slot.to_json()}


def entry_json(entry: Entry, payouts: list[Payout]) -> dict[str, Any]:
    """Upstream ``UserEntry``; revealed secrets are never returned (always null)."""
    live = next((p for p in reversed(payouts) if p.failed_at is None), None)
    return {
        "id": str(entry.id),
        "event_id": str(entry.competition_id),
        "ticket_id": str(entry.ticket_id),
        "pubkey": entry.owner,
        "ephemeral_pubkey": entry.ephemeral_pubkey.hex(),
        "ephemeral_privatekey_encrypted": entry.ephemeral_privatekey_encrypted,
        "payout_hash": entry.payout_hash.hex(),
        "payout_preimage_encrypted": entry.payout_preimage_encrypted,
        "entry_submission": {
            "id": str(entry.id),
            "event_id": str(entry.competition_id),
            "expected_observations": [
                p.model_dump(mode="json", exclude_none=True) for p in entry.picks
            ],
        },
        "ephemeral_privatekey": None,
        "payout_preimage": None,
        "encrypted_keymeld_private_key": None,
        "keymeld_auth_pubkey": None,
        "public_nonces": None,
        "funding_psbt_base64": None,
        "partial_signatures": None,
        "signed_at": None,
        "paid_at": _t(entry.paid_at),
        "sellback_broadcasted_at": _t(entry.sellback_broadcasted_at),
        "reclaimed_broadcasted_at": _t(entry.reclaimed_broadcasted_at),
        "paid_out_at": _t(None if live is None else (live.succeed_at or live.initiated_at)),
        "payout_ln_invoice": None if live is None else live.payment_request,
        "payout_status": None if live is None else live.status.value,
    }


def payout_json(payout: Payout) -> dict[str, Any]:
    return {
        "payout_id": str(payout.id),
        "entry_id": str(payout.entry_id),
        "status": payout.status.value,
        "amount_sats": payout.amount_sats,
        "payment_hash": payout.payment_hash.hex(),
        "initiated_at": _t(payout.initiated_at),
        "succeed_at": _t(payout.succeed_at),
        "failed_at": _t(payout.failed_at),
        "error": payout.error,
        "fee_msat": payout.fee_msat,
        "cltv_limit": payout.cltv_limit,
    }


def tx_json(tx: SettlementTx) -> dict[str, Any]:
    return {
        "kind": tx.kind.value,
        "player_index": None if tx.player_index < 0 else tx.player_index,
        "txid": tx.txid,
        "fee_sats": tx.fee_sats,
        "created_at": _t(tx.created_at),
        "broadcast_at": _t(tx.broadcast_at),
        "confirmed_height": tx.confirmed_height,
        "observed": tx.observed,
    }


def owed_json(owed: OwedWinner) -> dict[str, Any]:
    return {
        "entry_id": str(owed.entry_id),
        "competition_id": str(owed.competition_id),
        "player_index": owed.player_index,
        "amount_sats": owed.amount_sats,
        "output_value_sats": owed.output_value_sats,
        "owed_since": _t(owed.owed_since),
        "sweepable_at_height": owed.sweepable_at_height,
        "sweep_approved_at": _t(owed.sweep_approved_at),
        "claimed_on_chain_at": _t(owed.claimed_on_chain_at),
        "claim_txid": owed.claim_txid,
        "swept_at": _t(owed.swept_at),
        "uneconomic_at": _t(owed.uneconomic_at),
        "resolved": owed.resolved,
    }


def hold_json(hold: PayoutHold) -> dict[str, Any]:
    return {
        "entry_id": str(hold.entry_id),
        "payment_hash": hold.payment_hash.hex(),
        "amount_sats": hold.amount_sats,
        "reason": hold.reason,
        "held_at": _t(hold.held_at),
        "released_at": _t(hold.released_at),
    }
