"""Validation of oracle answers and their conversion to the domain's oracle types."""

from __future__ import annotations

import uuid

from coordinator.domain.ports.oracle import (
    OracleEntry,
    OracleEntryScore,
    OracleEvent,
    OracleEventSpec,
)
from coordinator_core.errors import PermanentError
from coordinator_core.oracle_api import AddEventEntries, AddEventEntry, CreateEvent, Event
from ticketdlc.competition import (
    Announcement,
    AttestationError,
    InvalidOutcomeSpaceError,
    OutcomeSpace,
    verify_attestation,
)
from ticketdlc.crypto.secp import Point


class InvalidOracleAnswerError(PermanentError):
    """The oracle answered with something that does not hold together."""

    code = "invalid_oracle_answer"


def create_event_body(spec: OracleEventSpec) -> CreateEvent:
    return CreateEvent(
        id=spec.id,
        signing_date=spec.signing_date,
        start_observation_date=spec.start_observation_date,
        end_observation_date=spec.end_observation_date,
        locations=list(spec.locations),
        number_of_values_per_entry=spec.number_of_values_per_entry,
        total_allowed_entries=spec.total_allowed_entries,
        number_of_places_win=spec.number_of_places_win,
        scoring_fields=list(spec.scoring_fields),
    )


def entries_body(event_id: uuid.UUID, entries: list[OracleEntry]) -> AddEventEntries:
    return AddEventEntries(
        event_id=event_id,
        entries=[
            AddEventEntry(id=entry.id, event_id=event_id, expected_observations=list(entry.picks))
            for entry in entries
        ],
    )


def parse_announcement(event: Event, max_outcomes: int) -> tuple[OutcomeSpace, Announcement]:
    """The event's outcome space and its validated locking points."""
    try:
        space = OutcomeSpace(event.total_allowed_entries, event.number_of_places_win, max_outcomes)
        points = [
            Point.from_bytes(bytes.fromhex(p)) for p in event.event_announcement.locking_points
        ]
        return space, Announcement(space, points)
    except (InvalidOutcomeSpaceError, AttestationError, ValueError) as exc:
        raise InvalidOracleAnswerError(f"oracle event {event.id}: {exc}") from None


def to_domain_event(
    event: Event,
    space: OutcomeSpace,
    announcement: Announcement,
    oracle_pubkey: Point,
) -> OracleEvent:
    """Check the attestation against the announcement and build the domain event."""
    nonce_point = Point.from_bytes(bytes.fromhex(event.nonce_point)) if event.nonce_point else None
    attestation = int(event.attestation, 16) if event.attestation is not None else None
    attested_outcome = None
    if attestation is not None:
        try:
            attested_outcome = announcement.outcome_index(attestation)
        except AttestationError as exc:
            raise InvalidOracleAnswerError(f"oracle event {event.id}: {exc}") from None
        if nonce_point is not None and not verify_attestation(
            oracle_pubkey, nonce_point, space.message(attested_outcome), attestation
        ):
            raise InvalidOracleAnswerError(
                f"oracle event {event.id}: attestation is not a valid BIP-340 signature"
            )
    return OracleEvent(
        id=event.id,
        status=event.status,
        signing_date=event.signing_date,
        start_observation_date=event.start_observation_date,
        end_observation_date=event.end_observation_date,
        locations=tuple(event.locations),
        number_of_values_per_entry=event.number_of_values_per_entry,
        scoring_fields=tuple(event.scoring_fields),
        outcome_space=space,
        announcement=announcement,
        expiry=event.event_announcement.expiry,
        nonce_point=nonce_point,
        attestation=attestation,
        attested_outcome=attested_outcome,
        entries=tuple(
            OracleEntryScore(
                id=entry.id,
                picks=tuple(entry.expected_observations),
                score=entry.score,
                base_score=entry.base_score,
            )
            for entry in event.entries
        ),
        coordinator_pubkey=event.coordinator_pubkey,
    )
