"""Verification of a completed keygen's signed participant roster (keymeld-0.10 §4.5).

No aggregate key of a session is used before its roster verified: the manifest and recipient
authorization are the pinned ones, the roster is signed by the coordinator enclave's attested
key, every registration is authorized by its slot credential, every aggregate is recomputed
here, and the encrypted aggregates the gateway reports equal the roster's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from coordinator_core.errors import ValidationError
from coordinator_core.keymeld.crypto import Context, KeymeldCryptoError, SessionCipher
from coordinator_core.keymeld.messages import (
    ParticipantRoster,
    RecipientAuthorization,
    RegistrationAuthorization,
    SignedManifest,
    SignedRoster,
    TaprootTweak,
    subsets_json,
)
from coordinator_core.keymeld.wire import canonical, loads


class RosterError(ValidationError):
    """The roster of a completed keygen does not verify; no key of it may be used."""


@dataclass(frozen=True)
class KeygenOutcome:
    """What K5 reports once a keygen completed (still encrypted)."""

    authorization_manifest: SignedManifest
    recipient_authorization: RecipientAuthorization
    encrypted_roster: str
    aggregate_public_key: str
    encrypted_subset_aggregates: Mapping[str, str]


def verify_roster(
    outcome: KeygenOutcome,
    manifest: SignedManifest,
    recipients: RecipientAuthorization,
    cipher: SessionCipher,
    expected: Mapping[str, RegistrationAuthorization],
) -> ParticipantRoster:
    """The verified roster; ``expected`` are registrations that must be present unchanged."""
    m = manifest.manifest
    # (1) the pinned manifest and recipient authorization
    if outcome.authorization_manifest.manifest_hash != manifest.manifest_hash:
        raise RosterError("the gateway reports another manifest for this session")
    if canonical(outcome.recipient_authorization.to_json()) != canonical(recipients.to_json()):
        raise RosterError("the gateway reports another enclave recipient authorization")
    try:
        recipients.validate(manifest)
    except ValueError as exc:
        raise RosterError(str(exc)) from None
    try:
        raw = cipher.decrypt_hex(Context.ROSTER, outcome.encrypted_roster)
        signed = SignedRoster.from_json(loads(raw, "roster", 64 << 20))
    except KeymeldCryptoError as exc:
        raise RosterError(f"roster: {exc.message}") from None
    # (2) signed by the coordinator enclave's accepted key
    coordinator_enclave = recipients.user_enclave_assignments[m.coordinator_user_id]
    if signed.enclave_public_key != recipients.recipient_public_keys[coordinator_enclave]:
        raise RosterError("the roster is not signed by the coordinator enclave's accepted key")
    if not signed.signature_valid():
        raise RosterError("the roster signature does not verify")
    roster = signed.roster
    # (3) same session, participants, subsets; every registration authorized by its slot
    if roster.keygen_session_id != m.keygen_session_id or roster.manifest_hash != (
        manifest.manifest_hash
    ):
        raise RosterError("the roster names another session or manifest")
    if set(roster.participants) != set(m.participant_verifiers) or set(roster.registrations) != set(
        m.participant_verifiers
    ):
        raise RosterError("the roster's participants differ from the manifest's")
    if canonical(subsets_json(roster.subset_definitions)) != canonical(
        subsets_json(m.subset_definitions)
    ):
        raise RosterError("the roster's subset definitions differ from the manifest's")
    for user_id, registration in roster.registrations.items():
        context = registration.context
        if (
            context.user_id != user_id
            or context.keygen_session_id != m.keygen_session_id
            or context.manifest_hash != manifest.manifest_hash
            or context.enclave_id != recipients.user_enclave_assignments[user_id]
        ):
            raise RosterError(f"registration of {user_id} names another slot")
        if not registration.is_valid(m.participant_verifiers[user_id]):
            raise RosterError(f"registration of {user_id} is not authorized by its slot")
        if context.public_key != roster.participants[user_id]:
            raise RosterError(f"registration of {user_id} names another key")
    # (5) the tweak is the manifest's
    try:
        tweak = TaprootTweak.from_json(
            loads(
                cipher.decrypt_hex(Context.TAPROOT_TWEAK, m.encrypted_taproot_tweak), "tweak", 4096
            )
        )
    except KeymeldCryptoError:
        tweak = TaprootTweak()  # keymeld reads an empty or undecryptable tweak as none
    if canonical(tweak.to_json()) != canonical(roster.taproot_tweak.to_json()):
        raise RosterError("the roster's taproot tweak differs from the manifest's")
    # (4) recompute every aggregate
    keys = roster.participants
    if tweak.aggregate(sorted(keys.values())).Q.to_bytes() != roster.aggregate_public_key:
        raise RosterError("the roster's aggregate key is not the aggregate of its participants")
    if set(roster.subset_aggregate_keys) != {s.subset_id for s in roster.subset_definitions}:
        raise RosterError("the roster's subset aggregates do not match its subsets")
    for subset in roster.subset_definitions:
        members = sorted(keys[user] for user in subset.participants)
        if tweak.aggregate(members).Q.to_bytes() != roster.subset_aggregate_keys[subset.subset_id]:
            raise RosterError(f"subset {subset.subset_id}: aggregate key does not match")
    # (6) the gateway's encrypted aggregates are the roster's
    try:
        aggregate = cipher.decrypt_hex(Context.AGGREGATE_PUBLIC_KEY, outcome.aggregate_public_key)
        if aggregate != roster.aggregate_public_key:
            raise RosterError("the reported aggregate key differs from the roster's")
        if set(outcome.encrypted_subset_aggregates) != set(roster.subset_aggregate_keys):
            raise RosterError("the reported subset aggregates differ from the roster's")
        for subset_id, blob in outcome.encrypted_subset_aggregates.items():
            value = cipher.decrypt_hex(Context.SUBSET_AGGREGATE_PUBLIC_KEY, blob)
            if value != roster.subset_aggregate_keys[subset_id]:
                raise RosterError(f"subset {subset_id}: reported aggregate differs")
    except KeymeldCryptoError as exc:
        raise RosterError(exc.message) from None
    # (7) the registrations this side made are present and unchanged
    for user_id, registration in expected.items():
        present = roster.registrations.get(user_id)
        if present is None or canonical(present.to_json()) != canonical(registration.to_json()):
            raise RosterError(f"the roster does not hold the registration accepted for {user_id}")
    return roster
