"""The signed participant roster of a completed keygen is verified before any key is used."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import pytest

from coordinator.adapters.signer.state import KeymeldState
from coordinator.domain.keys import CoordinatorKeys
from coordinator_core.keymeld import crypto
from coordinator_core.keymeld.api import KeygenStatus
from coordinator_core.keymeld.crypto import Context, SessionCipher
from coordinator_core.keymeld.messages import (
    ParticipantRoster,
    RecipientAuthorization,
    SignedRoster,
    TaprootTweak,
)
from coordinator_core.keymeld.proofs import session_proof
from coordinator_core.keymeld.roster import KeygenOutcome, RosterError, verify_roster
from coordinator_core.keymeld.wire import canonical, loads
from tests.signer.conftest import (
    CheckpointStore,
    make_signer,
    new_competition,
    register_players,
    wait_keygen,
)
from tests.support.signer import SignerHandle

Tamper = Callable[[ParticipantRoster], ParticipantRoster]


@pytest.fixture
async def completed(
    gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> Completed:
    signer = make_signer(gateway, keys)
    competition = new_competition(keys, 4, 2)
    session = await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    session = await register_players(signer, session, competition, store, gateway.trust())
    await wait_keygen(signer, session)
    state = signer._state(session)
    auth = crypto.session_auth_secret(state.credentials.session_secret)
    status = await signer.gateway.keygen_status(
        state.keygen_session_id, lambda: session_proof(auth, state.keygen_session_id)
    )
    await signer.aclose()
    return Completed(state, status)


@dataclasses.dataclass
class Completed:
    state: KeymeldState
    status: KeygenStatus


def outcome_of(
    status: KeygenStatus, recipients: RecipientAuthorization, roster: str
) -> KeygenOutcome:
    return KeygenOutcome(
        status.authorization_manifest,
        recipients,
        roster,
        status.aggregate_public_key,
        status.encrypted_subset_aggregates,
    )


async def test_the_genuine_roster_verifies(completed: Completed) -> None:
    state, status = completed.state, completed.status
    cipher = SessionCipher(state.credentials.session_secret)
    roster = verify_roster(
        outcome_of(status, state.recipient_authorization, status.encrypted_roster),
        state.manifest,
        state.recipient_authorization,
        cipher,
        state.registrations,
    )
    assert len(roster.participants) == 5 and len(roster.subset_aggregate_keys) == 6


def flip(data: bytes) -> bytes:
    return data[:-1] + bytes((data[-1] ^ 1,))


def another_key(_: bytes) -> bytes:
    return crypto.public_key(os.urandom(31) + b"\x01")


def change_player_key(roster: ParticipantRoster) -> ParticipantRoster:
    user = sorted(roster.participants)[-1]
    return dataclasses.replace(roster, participants={**roster.participants, user: another_key(b"")})


def change_aggregate(roster: ParticipantRoster) -> ParticipantRoster:
    return dataclasses.replace(roster, aggregate_public_key=another_key(b""))


def change_subset_aggregate(roster: ParticipantRoster) -> ParticipantRoster:
    subset = sorted(roster.subset_aggregate_keys)[0]
    keys = {**roster.subset_aggregate_keys, subset: another_key(b"")}
    return dataclasses.replace(roster, subset_aggregate_keys=keys)


def forge_slot_authorization(roster: ParticipantRoster) -> ParticipantRoster:
    user = sorted(roster.registrations)[-1]
    registration = roster.registrations[user]
    forged = dataclasses.replace(registration, signature=flip(registration.signature))
    return dataclasses.replace(roster, registrations={**roster.registrations, user: forged})


def change_tweak(roster: ParticipantRoster) -> ParticipantRoster:
    return dataclasses.replace(roster, taproot_tweak=TaprootTweak("unspendable_taproot"))


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (change_player_key, "names another key"),
        (change_aggregate, "aggregate key is not the aggregate"),
        (change_subset_aggregate, "aggregate key does not match"),
        (forge_slot_authorization, "not authorized by its slot"),
        (change_tweak, "taproot tweak differs"),
    ],
    ids=["player-key", "aggregate", "subset-aggregate", "slot-authorization", "tweak"],
)
async def test_a_tampered_roster_is_refused(
    completed: Completed, tamper: Tamper, reason: str
) -> None:
    """A roster signed by an enclave key the coordinator accepted, but not the one enclaves
    built, is refused on content."""
    state, status = completed.state, completed.status
    cipher = SessionCipher(state.credentials.session_secret)
    genuine = SignedRoster.from_json(
        loads(cipher.decrypt_hex(Context.ROSTER, status.encrypted_roster), "roster", 1 << 24)
    )
    # A recipient set, signed by the coordinator's authority, naming an enclave key held here.
    enclave_secret = os.urandom(31) + b"\x02"
    recipients = state.recipient_authorization
    coordinator_enclave = recipients.user_enclave_assignments[state.coordinator_user_id]
    keys = {
        **recipients.recipient_public_keys,
        coordinator_enclave: crypto.public_key(enclave_secret),
    }
    accepted = RecipientAuthorization.sign(
        state.credentials.authority_secret,
        recipients.keygen_session_id,
        recipients.manifest_hash,
        recipients.user_enclave_assignments,
        keys,
    )
    for roster, expect in ((genuine.roster, None), (tamper(genuine.roster), reason)):
        signed = SignedRoster.sign(roster, enclave_secret)
        blob = cipher.encrypt_hex(Context.ROSTER, canonical(signed.to_json()))
        outcome = outcome_of(status, accepted, blob)
        args = (outcome, state.manifest, accepted, cipher, state.registrations)
        if expect is None:
            verify_roster(*args)
        else:
            with pytest.raises(RosterError, match=expect):
                verify_roster(*args)


async def test_a_roster_not_signed_by_the_accepted_enclave_key_is_refused(
    completed: Completed,
) -> None:
    state, status = completed.state, completed.status
    cipher = SessionCipher(state.credentials.session_secret)
    genuine = SignedRoster.from_json(
        loads(cipher.decrypt_hex(Context.ROSTER, status.encrypted_roster), "roster", 1 << 24)
    )
    resigned = SignedRoster.sign(genuine.roster, os.urandom(31) + b"\x03")
    blob = cipher.encrypt_hex(Context.ROSTER, canonical(resigned.to_json()))
    recipients = state.recipient_authorization
    with pytest.raises(RosterError, match="not signed by the coordinator enclave"):
        verify_roster(
            outcome_of(status, recipients, blob),
            state.manifest,
            recipients,
            cipher,
            state.registrations,
        )
    # The registrations the coordinator accepted must be in the roster as it accepted them.
    user = sorted(state.registrations)[-1]
    other = dict(state.registrations)
    other[user] = dataclasses.replace(other[user], ciphertext_hash=bytes(32))
    with pytest.raises(RosterError, match="does not hold the registration accepted"):
        verify_roster(
            outcome_of(status, recipients, status.encrypted_roster),
            state.manifest,
            recipients,
            cipher,
            other,
        )
