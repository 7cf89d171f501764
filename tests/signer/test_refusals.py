"""The devnet gateway refuses what a keymeld 0.10 gateway refuses, with its status codes and
error shapes, and the client surfaces each refusal as a clear error."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from coordinator.adapters.signer.gateway import (
    GatewayConflictError,
    GatewayError,
    GatewayUnavailableError,
    KeymeldGateway,
)
from coordinator.adapters.signer.keymeld import KeymeldSigner
from coordinator.adapters.signer.state import KeymeldState
from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.signer import (
    RegistrationConflictError,
    SignerRejectedError,
    SignerSession,
)
from coordinator_core.keymeld import crypto
from coordinator_core.keymeld.api import (
    CreateSigningRequest,
    RegisterRequest,
    ReserveRequest,
    SigningAuthorization,
)
from coordinator_core.keymeld.attestation import new_challenge
from coordinator_core.keymeld.crypto import Context, SessionCipher
from coordinator_core.keymeld.messages import (
    NO_TWEAK,
    BatchItem,
    Domain,
    RegistrationAuthorization,
    RegistrationEnvelope,
    SessionManifest,
    SignedManifest,
    SubsetDefinition,
    signing_batch_payload,
)
from coordinator_core.keymeld.proofs import session_proof
from coordinator_core.keymeld.registration import (
    SlotOffer,
    registration_context,
)
from coordinator_core.keymeld.wire import byte_list, canonical
from tests.conftest import free_port
from tests.keymeld.test_vectors import legacy_session_header
from tests.signer.conftest import (
    CheckpointStore,
    Competition,
    make_signer,
    new_competition,
    register_players,
    registration_of,
    seal_for,
    wait_keygen,
)
from tests.support.signer import SignerHandle, running_signer


@dataclass
class Opened:
    signer: KeymeldSigner
    competition: Competition
    session: SignerSession
    store: CheckpointStore

    @property
    def state(self) -> KeymeldState:
        return self.signer._state(self.session)

    def proof(self) -> str:
        auth = crypto.session_auth_secret(self.state.credentials.session_secret)
        return session_proof(auth, self.state.keygen_session_id)


@pytest.fixture
async def opened(
    gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> AsyncIterator[Opened]:
    signer = make_signer(gateway, keys)
    competition = new_competition(keys, 3, 1)
    session = await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    yield Opened(signer, competition, session, store)
    await signer.aclose()


async def completed(opened: Opened, gateway: SignerHandle) -> Opened:
    opened.session = await register_players(
        opened.signer, opened.session, opened.competition, opened.store, gateway.trust()
    )
    await wait_keygen(opened.signer, opened.session)
    return opened


def assert_refused(exc: GatewayError, status: int, kind: str) -> None:
    assert (exc.status, exc.error_type) == (status, kind), str(exc)
    assert f"HTTP {status} {kind}" in str(exc)


async def test_unknown_session_is_404(opened: Opened) -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(GatewayError) as refused:
        await opened.signer.gateway.keygen_status(unknown, opened.proof)
    assert_refused(refused.value, 404, "not_found")


async def test_tampered_and_legacy_session_signatures_are_401(opened: Opened) -> None:
    gateway = opened.signer.gateway
    header = opened.proof()
    tampered = header[:-1] + ("0" if header[-1] != "0" else "1")
    with pytest.raises(GatewayError) as refused:
        await gateway.slots(opened.state.keygen_session_id, lambda: tampered)
    assert_refused(refused.value, 401, "unauthorized")
    auth = crypto.session_auth_secret(opened.state.credentials.session_secret)
    legacy = legacy_session_header(auth, opened.state.keygen_session_id, os.urandom(16).hex())
    with pytest.raises(GatewayError) as refused:
        await gateway.slots(opened.state.keygen_session_id, lambda: legacy)
    assert_refused(refused.value, 401, "unauthorized")
    assert "malformed" in refused.value.detail


async def test_missing_header_wrong_type_and_missing_field_are_framework_errors(
    opened: Opened, gateway: SignerHandle
) -> None:
    sid = opened.state.keygen_session_id
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        missing = await http.get(f"/api/v1/keygen/{sid}/slots")
        assert missing.status_code == 400 and "x-session-signature" in missing.text
        wrong_type = await http.post("/api/v1/keygen/reserve", content=b"{}")
        assert wrong_type.status_code == 415
        no_field = await http.post("/api/v1/keygen/reserve", json={"keygen_session_id": sid})
        assert no_field.status_code == 422 and "authorization_manifest" in no_field.text
        bad_json = await http.post(
            "/api/v1/keygen/reserve", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert bad_json.status_code == 400
        assert "x-request-id" in missing.headers


async def test_a_replayed_proof_is_refused_also_after_a_gateway_restart(
    own_gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    signer = make_signer(own_gateway, keys)
    competition = new_competition(keys, 2, 1)
    session = await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    state = signer._state(session)
    auth = crypto.session_auth_secret(state.credentials.session_secret)
    header = session_proof(auth, state.keygen_session_id)
    await signer.gateway.slots(state.keygen_session_id, lambda: header)
    with pytest.raises(GatewayError) as refused:
        await signer.gateway.slots(state.keygen_session_id, lambda: header)
    assert_refused(refused.value, 401, "unauthorized")
    assert "already used" in refused.value.detail
    second = session_proof(auth, state.keygen_session_id)
    own_gateway.process.restart()
    with pytest.raises(GatewayError) as refused:
        await signer.gateway.slots(state.keygen_session_id, lambda: header)
    assert "already used" in refused.value.detail
    # The session survived the restart: a fresh proof works, the unused one too.
    await signer.gateway.slots(state.keygen_session_id, lambda: second)
    await signer.aclose()


async def test_a_stale_enclave_key_epoch_is_refused(opened: Opened, gateway: SignerHandle) -> None:
    signer, competition = opened.signer, opened.competition
    ticket = competition.ticket_ids[0]
    slot = await signer.registration_slot(opened.session, ticket, new_challenge())
    gateway.restart_enclave(slot.enclave_id, rotate_key=False)
    sealed = seal_for(slot.to_json(), competition.player_secrets[0], gateway.trust())
    with pytest.raises(SignerRejectedError) as refused:
        await signer.register_participant(
            opened.session, registration_of(sealed), opened.store.checkpoint
        )
    assert isinstance(refused.value, GatewayError)
    assert_refused(refused.value, 400, "bad_request")
    assert "epoch" in refused.value.detail
    # A fresh slot (new epoch, same attested key) registers.
    slot = await signer.registration_slot(opened.session, ticket, new_challenge())
    sealed = seal_for(slot.to_json(), competition.player_secrets[0], gateway.trust())
    await signer.register_participant(
        opened.session, registration_of(sealed), opened.store.checkpoint
    )


async def test_a_claimed_slot_is_409_for_another_registration_and_ok_for_the_same(
    opened: Opened, gateway: SignerHandle
) -> None:
    signer, competition = opened.signer, opened.competition
    ticket, secret = competition.ticket_ids[1], competition.player_secrets[1]
    slot = await signer.registration_slot(opened.session, ticket, new_challenge())
    sealed = seal_for(slot.to_json(), secret, gateway.trust())
    session = await signer.register_participant(
        opened.session, registration_of(sealed), opened.store.checkpoint
    )
    # An identical retry succeeds (the gateway answers 200 again).
    session = await signer.register_participant(
        session, registration_of(sealed), opened.store.checkpoint
    )
    other = seal_for(slot.to_json(), secret, gateway.trust())  # same key, new ciphertext
    with pytest.raises(RegistrationConflictError):
        await signer.register_participant(session, registration_of(other), opened.store.checkpoint)
    # The gateway itself refuses it with 409, whatever the client believes.
    state = signer._state(session)
    context = (
        registration_context(signer._slot_offer_for_tests(slot), secret)
        if hasattr(signer, "_slot_offer_for_tests")
        else None
    )
    del context
    from coordinator_core.keymeld.registration import SlotOffer

    offer = SlotOffer.from_json(slot.to_json())
    context = registration_context(offer, secret)
    authorization = RegistrationAuthorization.sign(
        state.credentials.slot_secrets[ticket],
        context,
        hashlib.sha256(other.encrypted_envelope).digest(),
    )
    request = register_request(
        state, authorization, other.encrypted_envelope, offer.enclave_public_key
    )
    with pytest.raises(GatewayConflictError) as refused:
        await signer.gateway.register(state.keygen_session_id, request, opened.proof)
    assert_refused(refused.value, 409, "conflict")


def register_request(
    state: KeymeldState,
    authorization: RegistrationAuthorization,
    ciphertext: bytes,
    enclave_key: bytes,
) -> RegisterRequest:
    context = authorization.context
    cipher = SessionCipher(state.credentials.session_secret)
    return RegisterRequest(
        registration_authorization=authorization,
        keygen_session_id=state.keygen_session_id,
        user_id=context.user_id,
        encrypted_private_key=ciphertext.hex(),
        public_key=context.public_key,
        encrypted_session_data=cipher.encrypt_hex(
            Context.KEYGEN_PARTICIPANT_SESSION,
            canonical(
                {"participant_public_keys": {context.user_id: byte_list(context.public_key)}}
            ),
        ),
        enclave_public_key=enclave_key.hex(),
        enclave_key_epoch=context.enclave_key_epoch,
        require_signing_approval=context.require_signing_approval,
        auth_pubkey=context.auth_pubkey,
    )


async def test_a_registration_without_a_valid_possession_proof_is_refused(
    opened: Opened, gateway: SignerHandle
) -> None:
    signer, competition = opened.signer, opened.competition
    ticket, secret = competition.ticket_ids[2], competition.player_secrets[2]
    slot = await signer.registration_slot(opened.session, ticket, new_challenge())
    offer = SlotOffer.from_json(slot.to_json())
    context = registration_context(offer, secret)
    forged = RegistrationEnvelope(context, secret, bytes(64))
    ciphertext = crypto.ecies_encrypt(offer.enclave_public_key, canonical(forged.to_json()))
    with pytest.raises(GatewayError) as refused:
        await signer.register_participant(
            opened.session,
            registration_of(
                type(seal_for(slot.to_json(), secret, gateway.trust()))(
                    ticket,
                    context.public_key,
                    context.auth_pubkey,
                    ciphertext,
                    offer.enclave_key_epoch,
                )
            ),
            opened.store.checkpoint,
        )
    assert_refused(refused.value, 400, "bad_request")
    assert "possession" in refused.value.detail


def batch(state: KeymeldState, sid: str, count: int, configs: str | None = None) -> list[BatchItem]:
    cipher = SessionCipher(state.credentials.session_secret)
    message = hashlib.sha256(b"m").digest()
    return [
        BatchItem(
            str(uuid.uuid4()),
            message,
            cipher.encrypt_hex(Context.SESSION_DATA, message.hex().encode()),
            configs,
            cipher.encrypt_hex(Context.SESSION_DATA, canonical(NO_TWEAK.to_json())),
            None,
        )
        for _ in range(count)
    ]


def signing_request(
    state: KeymeldState, items: list[BatchItem], authority: bytes | None = None
) -> CreateSigningRequest:
    sid = str(uuid.uuid4())
    payload = signing_batch_payload(state.keygen_session_id, sid, 60, items)
    secret = authority or state.credentials.authority_secret
    signature = crypto.authorize(secret, Domain.SIGNING_BATCH, payload)
    return CreateSigningRequest(
        SigningAuthorization(60, signature), sid, state.keygen_session_id, 60, tuple(items)
    )


async def test_signing_refusals(opened: Opened, gateway: SignerHandle) -> None:
    await completed(opened, gateway)
    state, client = opened.state, opened.signer.gateway
    sid = str(uuid.uuid4())
    with pytest.raises(GatewayError) as refused:
        await client.create_signing(signing_request(state, batch(state, sid, 101)), opened.proof)
    assert_refused(refused.value, 400, "bad_request")
    assert "1..100" in refused.value.detail
    with pytest.raises(GatewayError) as refused:
        await client.create_signing(
            signing_request(state, batch(state, sid, 1), authority=os.urandom(31) + b"\x01"),
            opened.proof,
        )
    assert_refused(refused.value, 401, "unauthorized")
    assert "signing authorization" in refused.value.detail
    cipher = SessionCipher(state.credentials.session_secret)
    point = crypto.public_key(bytes.fromhex("09" * 32)).hex()
    and_config = cipher.encrypt_hex(
        Context.ADAPTOR_CONFIGS,
        canonical(
            [
                {
                    "adaptor_id": str(uuid.uuid4()),
                    "adaptor_type": "And",
                    "adaptor_points": [point, point],
                    "hints": None,
                }
            ]
        ),
    )
    with pytest.raises(GatewayError) as refused:
        await client.create_signing(
            signing_request(state, batch(state, sid, 1, and_config)), opened.proof
        )
    assert_refused(refused.value, 400, "bad_request")
    assert "And" in refused.value.detail
    accepted = await client.create_signing(
        signing_request(state, batch(state, sid, 2)), opened.proof
    )
    assert accepted.status == "collecting_participants"


def test_admission_answers_429_with_retry_after(tmp_path: Path) -> None:
    extra = ["--admission-per-ip-burst", "2", "--admission-per-ip-rate", "0.01"]
    with running_signer(tmp_path / "signer", free_port(), extra) as limited:
        answers = [limited.http.post("/api/v1/keygen/reserve", json={}) for _ in range(3)]
        assert [a.status_code for a in answers] == [422, 422, 429]
        assert answers[2].json()["error_code"] == "rate_limited"
        assert int(answers[2].headers["retry-after"]) >= 1
        # GET routes other than enclave keys are not admission-limited.
        assert limited.http.get("/api/v1/health").status_code == 200


async def test_the_client_reports_rate_limiting_as_transient(tmp_path: Path) -> None:
    extra = ["--admission-per-ip-burst", "1", "--admission-per-ip-rate", "0.01"]
    with running_signer(tmp_path / "signer", free_port(), extra) as limited:
        client = KeymeldGateway(limited.url)
        await client.enclave_key(0, os.urandom(32))
        with pytest.raises(GatewayUnavailableError) as refused:
            await client.enclave_key(0, os.urandom(32))
        assert refused.value.retry_after is not None and refused.value.retry_after >= 1
        assert "HTTP 429 rate_limited" in str(refused.value)
        await client.aclose()


def manifest_for(users: list[str], subsets: tuple[SubsetDefinition, ...] = ()) -> SignedManifest:
    authority, session = os.urandom(31) + b"\x05", os.urandom(31) + b"\x06"
    manifest = SessionManifest(
        keygen_session_id=str(uuid.uuid4()),
        coordinator_user_id=users[0],
        creator_pubkey=crypto.public_key(authority),
        signing_pubkey=crypto.public_key(authority),
        session_public_key=crypto.public_key(crypto.session_auth_secret(session)),
        participant_verifiers={u: crypto.public_key(os.urandom(31) + b"\x07") for u in users},
        timeout_secs=600,
        max_signing_sessions=10,
        encrypted_taproot_tweak="",
        subset_definitions=subsets,
    )
    return SignedManifest.sign(manifest, authority)


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (lambda r: r, 200, None),
        (
            lambda r: dataclasses.replace(
                r,
                authorization_manifest=dataclasses.replace(
                    r.authorization_manifest,
                    signature=bytes(64),
                ),
            ),
            401,
            "signature does not verify",
        ),
        (
            lambda r: dataclasses.replace(r, expected_participants=r.expected_participants[:-1]),
            400,
            "differ from the manifest",
        ),
        (lambda r: dataclasses.replace(r, timeout_secs=601), 400, "differs from its"),
        (lambda r: dataclasses.replace(r, timeout_secs=0), 400, "timeout_secs must be"),
    ],
    ids=["valid", "bad-signature", "participants", "timeout-mismatch", "timeout-range"],
)
async def test_reserve_checks_the_manifest(
    gateway: SignerHandle,
    mutate: Callable[[ReserveRequest], ReserveRequest],
    status: int,
    reason: str | None,
) -> None:
    users = [str(uuid.uuid4()) for _ in range(3)]
    request = mutate(ReserveRequest.of(manifest_for(users)))
    client = KeymeldGateway(gateway.url)
    try:
        if reason is None:
            reserved = await client.reserve(request)
            assert set(reserved.user_enclave_assignments) == set(users)
            assert len(set(reserved.user_enclave_assignments.values())) == 2
        else:
            with pytest.raises(GatewayError) as refused:
                await client.reserve(request)
            assert refused.value.status == status and reason in refused.value.detail
    finally:
        await client.aclose()


async def test_reserve_refuses_more_subsets_than_the_limit(gateway: SignerHandle) -> None:
    users = [str(uuid.uuid4()) for _ in range(22)]
    subsets = tuple(
        SubsetDefinition(str(uuid.uuid4()), (users[0], a, b))
        for i, a in enumerate(users[1:])
        for b in users[i + 2 :]
    )
    assert len(subsets) == 210
    client = KeymeldGateway(gateway.url)
    with pytest.raises(GatewayError) as refused:
        await client.reserve(ReserveRequest.of(manifest_for(users, subsets)))
    assert refused.value.status == 400 and "at most 200 subset" in refused.value.detail
    await client.aclose()
