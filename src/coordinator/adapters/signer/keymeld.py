"""The :class:`~coordinator.domain.ports.signer.Signer` port over a keymeld 0.10 gateway.

Call order (keymeld-0.10 §6): K1 reserve with a creator-signed manifest → E2 + attestation of
every assigned enclave → K2 initialize with the signed recipient set → the coordinator's own
K3/E2/K4 registration → players' delegated K4 registrations → K5 until completed, then the
signed roster is verified → S1 per batch, S3 until completed, results decrypted and verified.

Fixes of upstream behaviour: the coordinator's user id is derived from the coordinator seed
(stable across restarts) with a zero UUIDv7 timestamp, so it sorts below every ticket id; the
subsets are one per distinct winner set and always contain the coordinator; the contract is
checked against the gateway's limits and the signing-session quota before anything is opened;
every credential is sealed into the checkpointed state, so a restart resumes; signing resumes
batch by batch without spending quota again, and a round lost at the gateway is rerun by the
enclaves with fresh nonces (the coordinator holds no nonce at all).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import random
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from coordinator.adapters.signer.gateway import (
    GatewayError,
    GatewayProtocolError,
    GatewayUnavailableError,
    KeymeldGateway,
)
from coordinator.adapters.signer.plan import (
    check_keygen,
    competition_shape,
    distinct_subsets,
)
from coordinator.adapters.signer.state import (
    AT_REST_PURPOSE,
    Batch,
    Credentials,
    KeymeldState,
    Signing,
)
from coordinator.config import KeymeldSettings
from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.signer import (
    Checkpoint,
    KeygenRequest,
    KeygenResult,
    ParticipantRegistration,
    RegistrationConflictError,
    RegistrationSlot,
    SignerCapacityError,
    SignerLimits,
    SignerRejectedError,
    SignerSession,
    SigningPlanSummary,
)
from coordinator_core.errors import TransientError, ValidationError
from coordinator_core.keymeld import crypto
from coordinator_core.keymeld.api import (
    CreateSigningRequest,
    EnclaveKey,
    InitializeRequest,
    RegisterRequest,
    ReserveRequest,
    SigningAuthorization,
    SigningStatus,
)
from coordinator_core.keymeld.attestation import EnclaveTrust, new_challenge
from coordinator_core.keymeld.crypto import Context, SessionCipher
from coordinator_core.keymeld.messages import (
    NO_TWEAK,
    AdaptorConfig,
    AdaptorSignatureResult,
    BatchItem,
    Domain,
    ParticipantRoster,
    RecipientAuthorization,
    RegistrationAuthorization,
    RegistrationContext,
    RegistrationEnvelope,
    SessionManifest,
    SignedManifest,
    SubsetDefinition,
    initialize_payload,
    signing_batch_payload,
)
from coordinator_core.keymeld.proofs import session_proof, user_proof
from coordinator_core.keymeld.roster import KeygenOutcome, RosterError, verify_roster
from coordinator_core.keymeld.wire import WireError, byte_list, canonical, loads
from coordinator_core.nitro import AttestationError, attestation_trust
from ticketdlc.contract import (
    ContractSignatures,
    InvalidSignatureError,
    TicketedDLC,
    verify_entries,
)
from ticketdlc.contract.build import SigningEntry
from ticketdlc.contract.types import WinCondition
from ticketdlc.typed_bytes import CompressedPubkey, SecretKey

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ENVELOPE_BYTES: Final = 64 * 1024
STATE_CACHE_SIZE: Final = 64
LATEST_STATES: Final = 1024  # keygen sessions whose newest checkpointed state is kept
COLLECTING: Final = "collecting_participants"
COMPLETED: Final = "completed"


class EnclaveAttestationError(SignerRejectedError):
    """An enclave's attestation did not verify: nothing was sent to it."""

    code = "enclave_not_attested"


@dataclass(frozen=True)
class PollPolicy:
    """Status polling: exponential backoff with jitter, bounded by a deadline."""

    first_delay_secs: float = 0.1
    max_delay_secs: float = 1.0
    multiplier: float = 1.3
    jitter: float = 0.1

    def delays(self) -> Callable[[], float]:
        delay = self.first_delay_secs

        def next_delay() -> float:
            nonlocal delay
            current = delay * (1 + random.uniform(-self.jitter, self.jitter))
            delay = min(self.max_delay_secs, delay * self.multiplier)
            return current

        return next_delay


@dataclass(frozen=True)
class KeymeldConfig:
    """How the coordinator uses its gateway."""

    gateway_url: str
    limits: SignerLimits
    signing_timeout_secs: int = 300
    request_timeout_secs: float = 30.0
    max_concurrent_batches: int = 20
    poll: PollPolicy = PollPolicy()


@dataclass(frozen=True)
class BatchSteps:
    """The checkpointed state changes of one batch: replaced by a new session, or sent."""

    replace: Callable[[Batch], Awaitable[Batch]]
    created: Callable[[Batch], Awaitable[Batch]]


def coordinator_user_id(keys: CoordinatorKeys) -> str:
    """The coordinator's keymeld user id: stable for its seed, below every dated UUIDv7."""
    raw = bytearray(keys.signer_secret("keymeld-user-id")[:16])
    raw[0:6] = bytes(6)  # unix_ts_ms = 0
    raw[6] = 0x70 | (raw[6] & 0x0F)  # version 7
    raw[8] = 0x80 | (raw[8] & 0x3F)  # RFC 9562 variant
    return str(uuid.UUID(bytes=bytes(raw)))


def _random_secret() -> SecretKey:
    while True:
        candidate = SecretKey(os.urandom(32))
        try:
            crypto.public_key(candidate)
            crypto.session_auth_secret(candidate)
        except ValueError:
            continue
        return candidate


def _derived_uuid(*parts: str) -> str:
    """A UUID (version 4 layout) derived from ``parts``: stable ids for resumed batches."""
    h = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


class KeymeldSigner:
    """A keymeld gateway client implementing the lifecycle's ``Signer`` port."""

    @classmethod
    def from_settings(
        cls, settings: KeymeldSettings, profile: str, keys: CoordinatorKeys
    ) -> KeymeldSigner:
        """The signer of ``[keymeld]``: its limits, timeouts and attestation policy."""
        trust = attestation_trust(
            profile,
            pcr_pins={name: value for name, value in settings.pcr_pins.items()},
            trust_root_file=settings.attestation_trust_root_file,
        )
        limits = SignerLimits(
            max_participants=settings.max_participants,
            max_subsets=settings.max_subsets,
            max_items_per_signing_session=settings.max_batch_items,
            max_signing_sessions=settings.max_signing_sessions,
            max_keygen_timeout_secs=settings.max_keygen_timeout_secs,
        )
        config = KeymeldConfig(
            gateway_url=settings.gateway_url,
            limits=limits,
            signing_timeout_secs=settings.signing_session_expiry_secs,
            request_timeout_secs=settings.request_timeout_secs,
        )
        return cls(config, keys, EnclaveTrust(trust))

    def __init__(
        self,
        config: KeymeldConfig,
        keys: CoordinatorKeys,
        trust: EnclaveTrust,
        *,
        gateway: KeymeldGateway | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._keys = keys
        self._at_rest = keys.at_rest_key(AT_REST_PURPOSE)
        self.trust = trust
        self.clock = clock
        self.gateway = gateway or KeymeldGateway(
            config.gateway_url, timeout_secs=config.request_timeout_secs
        )
        self.user_id = coordinator_user_id(keys)
        self._states: OrderedDict[str, KeymeldState] = OrderedDict()
        # The newest state checkpointed per keygen session, and one lock per keygen session:
        # state changes of one session are serialized and build on the newest state, so
        # concurrent registrations (each handed the competition as loaded before the others'
        # checkpoints) cannot drop one another's registration.
        self._latest: OrderedDict[str, KeymeldState] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def aclose(self) -> None:
        await self.gateway.aclose()

    @property
    def limits(self) -> SignerLimits:
        return self.config.limits

    def plan(self, players: int, places: int) -> SigningPlanSummary:
        return competition_shape(players, places, self.limits).summary()

    # -- state ------------------------------------------------------------------------------

    def _state(self, session: SignerSession) -> KeymeldState:
        sealed = session.state.get("credentials")
        state = self._states.get(sealed) if isinstance(sealed, str) else None
        if state is None:
            state = KeymeldState.unseal(session.state, self._at_rest)
            self._remember(state, session.state)
        if state.competition_id != session.competition_id:
            raise ValidationError("the signer session belongs to another competition")
        return self._fresh(state)

    def _fresh(self, state: KeymeldState) -> KeymeldState:
        """``state`` brought up to the newest state this process checkpointed for its session."""
        latest = self._latest.get(state.keygen_session_id)
        return state if latest is None else latest.merged(state)

    def _lock(self, keygen_session_id: str) -> asyncio.Lock:
        """The lock serializing the state changes of one keygen session."""
        lock = self._locks.get(keygen_session_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[keygen_session_id] = lock
        return lock

    def _remember(self, state: KeymeldState, stored: Mapping[str, object]) -> None:
        """Keep recently sealed or opened states parsed (a sealed value is unique per seal)."""
        sealed = stored.get("credentials")
        if isinstance(sealed, str):
            self._states[sealed] = state
            while len(self._states) > STATE_CACHE_SIZE:
                self._states.popitem(last=False)

    def _session(self, state: KeymeldState) -> SignerSession:
        stored = state.seal(self._at_rest)
        self._remember(state, stored)
        return SignerSession(state.competition_id, stored)

    async def _checkpoint(self, checkpoint: Checkpoint, state: KeymeldState) -> SignerSession:
        session = self._session(state)
        await checkpoint(session)
        self._latest[state.keygen_session_id] = state
        self._latest.move_to_end(state.keygen_session_id)
        while len(self._latest) > LATEST_STATES:
            self._latest.popitem(last=False)
        return session

    def _session_proof(self, state: KeymeldState) -> Callable[[], str]:
        auth = crypto.session_auth_secret(state.credentials.session_secret)
        return lambda: session_proof(auth, state.keygen_session_id)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- enclaves ---------------------------------------------------------------------------

    async def _attested_key(self, enclave_id: int, challenge: bytes | None = None) -> EnclaveKey:
        """E2 with a fresh challenge, verified before the key may be used."""
        nonce = challenge or new_challenge()
        key = await self.gateway.enclave_key(enclave_id, nonce)
        try:
            public_key = key.public_key_bytes
        except crypto.KeymeldCryptoError as exc:
            raise EnclaveAttestationError(f"enclave {enclave_id}: {exc.message}") from None
        try:
            self.trust.verify(key.document_bytes, public_key, nonce, self._now_ms())
        except AttestationError as exc:
            raise EnclaveAttestationError(
                f"enclave {enclave_id} is not attested ({exc.check}): {exc}"
            ) from None
        return key

    # -- keygen -----------------------------------------------------------------------------

    async def open_keygen(self, request: KeygenRequest, checkpoint: Checkpoint) -> SignerSession:
        players = [self._player_id(p) for p in request.player_ids]
        if len(set(players)) != len(players):
            raise ValidationError("player ids repeat")
        if not 1 <= request.timeout_secs <= self.limits.max_keygen_timeout_secs:
            raise SignerCapacityError(
                f"keygen timeout: {request.timeout_secs} s is outside 1..."
                f"{self.limits.max_keygen_timeout_secs} (max_keygen_timeout_secs)"
            )
        check_keygen(len(players), request.winner_sets, self.limits)
        coordinator = self.user_id
        if any(p <= coordinator for p in players):
            raise ValidationError("every player id must sort above the coordinator's keymeld id")
        mm_secret = request.market_maker_secret
        mm_pubkey = crypto.public_key(mm_secret)
        session_id = str(uuid.UUID(bytes=os.urandom(16), version=4))
        credentials = Credentials(
            session_secret=_random_secret(),
            authority_secret=_random_secret(),
            slot_secrets={u: _random_secret() for u in [coordinator, *players]},
            coordinator_auth_secret=crypto.user_auth_secret(mm_secret, session_id),
        )
        subsets = {
            _derived_uuid(session_id, "subset", *sorted(str(i) for i in winners)): (
                coordinator,
                *(players[i] for i in sorted(winners)),
            )
            for winners in distinct_subsets(len(players), request.winner_sets)
        }
        if any(members[0] != coordinator for members in subsets.values()):
            raise ValidationError("every subset must contain the coordinator")
        cipher = SessionCipher(credentials.session_secret)
        manifest = SignedManifest.sign(
            SessionManifest(
                keygen_session_id=session_id,
                coordinator_user_id=coordinator,
                creator_pubkey=crypto.public_key(credentials.authority_secret),
                signing_pubkey=crypto.public_key(credentials.authority_secret),
                session_public_key=crypto.public_key(
                    crypto.session_auth_secret(credentials.session_secret)
                ),
                participant_verifiers={
                    u: crypto.public_key(s) for u, s in credentials.slot_secrets.items()
                },
                timeout_secs=request.timeout_secs,
                # The whole allowance: the plan checked at creation that the contract's batches
                # fit it, and what is left covers sessions lost and replaced while signing.
                max_signing_sessions=self.limits.max_signing_sessions,
                encrypted_taproot_tweak=cipher.encrypt_hex(
                    Context.TAPROOT_TWEAK, canonical(NO_TWEAK.to_json())
                ),
                subset_definitions=tuple(
                    SubsetDefinition(sid, members) for sid, members in subsets.items()
                ),
            ),
            credentials.authority_secret,
        )
        state = KeymeldState(
            competition_id=request.competition_id,
            gateway_url=self.config.gateway_url,
            keygen_session_id=session_id,
            coordinator_user_id=coordinator,
            coordinator_pubkey=mm_pubkey,
            player_ids=tuple(players),
            subsets=subsets,
            manifest=manifest,
            credentials=credentials,
        )
        reserved = await self.gateway.reserve(ReserveRequest.of(manifest))
        expected = {coordinator, *players}
        if (
            reserved.keygen_session_id != session_id
            or set(reserved.user_enclave_assignments) != expected
            or reserved.user_enclave_assignments[coordinator] != reserved.coordinator_enclave_id
        ):
            raise GatewayProtocolError("K1 answered with another session or assignment")
        recipients: dict[int, CompressedPubkey] = {}
        for enclave_id in sorted(set(reserved.user_enclave_assignments.values())):
            key = await self._attested_key(enclave_id)
            if enclave_id == reserved.coordinator_enclave_id and (
                key.public_key != reserved.coordinator_public_key
                or key.key_epoch != reserved.coordinator_key_epoch
            ):
                raise GatewayProtocolError("the coordinator enclave's attested key is not K1's")
            recipients[enclave_id] = key.public_key_bytes
        authorization = RecipientAuthorization.sign(
            credentials.authority_secret,
            session_id,
            manifest.manifest_hash,
            reserved.user_enclave_assignments,
            recipients,
        )
        coordinator_key = recipients[reserved.coordinator_enclave_id]
        sealed_secret = crypto.ecies_encrypt(coordinator_key, credentials.session_secret).hex()
        session_data = cipher.encrypt_hex(
            Context.KEYGEN_SESSION,
            canonical({"coordinator_pubkey": byte_list(mm_pubkey), "aggregate_pubkey": None}),
        )
        session_public_key = manifest.manifest.session_public_key
        signature = crypto.authorize(
            credentials.authority_secret,
            Domain.INITIALIZE_SESSION,
            initialize_payload(
                session_id,
                mm_pubkey,
                session_public_key,
                sealed_secret,
                session_data,
                reserved.coordinator_key_epoch,
                authorization,
            ),
        )
        await self.gateway.initialize(
            session_id,
            InitializeRequest(
                authorization,
                signature,
                mm_pubkey,
                session_public_key,
                sealed_secret,
                session_data,
                reserved.coordinator_key_epoch,
            ),
        )
        state = state.evolve(recipient_authorization=authorization)
        await self._checkpoint(checkpoint, state)
        return await self._register_coordinator(state, mm_secret, checkpoint)

    def _player_id(self, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValidationError(f"player id {value!r} is not a UUID") from None

    async def _register_coordinator(
        self, state: KeymeldState, mm_secret: SecretKey, checkpoint: Checkpoint
    ) -> SignerSession:
        enclave_id, key = await self._slot_enclave(state, state.coordinator_user_id)
        context = RegistrationContext(
            keygen_session_id=state.keygen_session_id,
            manifest_hash=state.manifest.manifest_hash,
            user_id=state.coordinator_user_id,
            enclave_id=enclave_id,
            enclave_key_epoch=key.key_epoch,
            public_key=state.coordinator_pubkey,
            auth_pubkey=crypto.public_key(state.credentials.coordinator_auth_secret),
            require_signing_approval=False,
        )
        envelope = RegistrationEnvelope.build(context, mm_secret)
        ciphertext = crypto.ecies_encrypt(key.public_key_bytes, canonical(envelope.to_json()))
        state = await self._submit(state, context, ciphertext, checkpoint)
        async with self._lock(state.keygen_session_id):
            state = self._fresh(state).evolve(coordinator_registered=True)
            return await self._checkpoint(checkpoint, state)

    async def _slot_enclave(
        self, state: KeymeldState, user_id: str, challenge: bytes | None = None
    ) -> tuple[int, EnclaveKey]:
        """K3 → the user's enclave → E2, holding the key the creator accepted.

        Without ``challenge`` the key is attested here (the coordinator seals to it); with the
        player's challenge, the document is for the player, who verifies it before sealing.
        """
        slots = await self.gateway.slots(state.keygen_session_id, self._session_proof(state))
        slot = next((s for s in slots.available_slots if s.user_id == user_id), None)
        recipients = state.recipient_authorization
        assert recipients is not None
        expected = recipients.user_enclave_assignments.get(user_id)
        if slot is None or expected is None or slot.enclave_id != expected:
            raise GatewayProtocolError(f"K3 does not list {user_id}'s slot on its assigned enclave")
        if challenge is None:
            key = await self._attested_key(slot.enclave_id)
        else:
            key = await self.gateway.enclave_key(slot.enclave_id, challenge)
        if key.public_key != recipients.recipient_public_keys[slot.enclave_id].hex():
            raise EnclaveAttestationError(
                f"enclave {slot.enclave_id} now presents a key the session did not accept"
            )
        return slot.enclave_id, key

    async def _submit(
        self,
        state: KeymeldState,
        context: RegistrationContext,
        ciphertext: bytes,
        checkpoint: Checkpoint,
    ) -> KeymeldState:
        """Authorize a sealed registration with its slot credential and K4 it (idempotent)."""
        user_id = context.user_id
        authorization = RegistrationAuthorization.sign(
            state.credentials.slot_secrets[user_id], context, hashlib.sha256(ciphertext).digest()
        )
        lock = self._lock(state.keygen_session_id)
        async with lock:
            state = self._fresh(state)
            previous = state.registrations.get(user_id)
            same = previous is not None and canonical(previous.to_json()) == canonical(
                authorization.to_json()
            )
            if previous is not None and user_id in state.accepted and not same:
                raise RegistrationConflictError(
                    f"{user_id}'s slot already holds another registration"
                )
            if not same:
                state = state.evolve(registrations={**state.registrations, user_id: authorization})
                await self._checkpoint(checkpoint, state)
        cipher = SessionCipher(state.credentials.session_secret)
        request = RegisterRequest(
            registration_authorization=authorization,
            keygen_session_id=state.keygen_session_id,
            user_id=user_id,
            encrypted_private_key=ciphertext.hex(),
            public_key=context.public_key,
            encrypted_session_data=cipher.encrypt_hex(
                Context.KEYGEN_PARTICIPANT_SESSION,
                canonical({"participant_public_keys": {user_id: byte_list(context.public_key)}}),
            ),
            enclave_public_key=(
                state.recipient_authorization.recipient_public_keys[context.enclave_id].hex()
                if state.recipient_authorization is not None
                else ""
            ),
            enclave_key_epoch=context.enclave_key_epoch,
            require_signing_approval=context.require_signing_approval,
            auth_pubkey=context.auth_pubkey,
        )
        await self.gateway.register(state.keygen_session_id, request, self._session_proof(state))
        async with lock:
            state = self._fresh(state)
            state = state.evolve(
                registrations={**state.registrations, user_id: authorization},
                accepted=state.accepted | {user_id},
            )
            await self._checkpoint(checkpoint, state)
            return state

    async def registration_slot(
        self, session: SignerSession, user_id: str, attestation_nonce: bytes
    ) -> RegistrationSlot:
        state = self._state(session)
        user_id = self._player_id(user_id)
        if user_id not in state.player_ids:
            raise ValidationError(f"{user_id} holds no slot in this keygen session")
        if len(attestation_nonce) != 32:
            raise ValidationError("the attestation nonce is 32 bytes")
        enclave_id, key = await self._slot_enclave(state, user_id, attestation_nonce)
        context = {
            "keygen_session_id": state.keygen_session_id,
            "manifest_hash": byte_list(state.manifest.manifest_hash),
            "user_id": user_id,
            "enclave_id": enclave_id,
            "enclave_key_epoch": key.key_epoch,
            "require_signing_approval": False,
        }
        return RegistrationSlot(
            user_id=user_id,
            context=context,
            enclave_id=enclave_id,
            enclave_public_key=key.public_key_bytes,
            enclave_key_epoch=key.key_epoch,
            attestation_document=key.document_bytes,
            attestation_nonce=attestation_nonce,
        )

    async def register_participant(
        self, session: SignerSession, registration: ParticipantRegistration, checkpoint: Checkpoint
    ) -> SignerSession:
        state = self._state(session)
        user_id = self._player_id(registration.user_id)
        if user_id not in state.player_ids:
            raise ValidationError(f"{user_id} holds no slot in this keygen session")
        if not crypto.is_point(registration.public_key) or not crypto.is_point(
            registration.auth_pubkey
        ):
            raise ValidationError("public_key and auth_pubkey must be compressed secp256k1 keys")
        if not crypto.ECIES_OVERHEAD < len(registration.encrypted_envelope) <= MAX_ENVELOPE_BYTES:
            raise ValidationError("the sealed registration has an impossible size")
        recipients = state.recipient_authorization
        assert recipients is not None
        context = RegistrationContext(
            keygen_session_id=state.keygen_session_id,
            manifest_hash=state.manifest.manifest_hash,
            user_id=user_id,
            enclave_id=recipients.user_enclave_assignments[user_id],
            enclave_key_epoch=registration.enclave_key_epoch,
            public_key=registration.public_key,
            auth_pubkey=registration.auth_pubkey,
            require_signing_approval=False,
        )
        state = await self._submit(state, context, registration.encrypted_envelope, checkpoint)
        return self._session(state)

    async def _verified_roster(self, state: KeymeldState) -> ParticipantRoster | None:
        status = await self.gateway.keygen_status(
            state.keygen_session_id, self._session_proof(state)
        )
        if status.keygen_session_id != state.keygen_session_id:
            raise GatewayProtocolError("K5 answered for another session")
        if status.status == COLLECTING:
            return None
        if status.status != COMPLETED:
            raise GatewayProtocolError(f"K5: unexpected keygen status {status.status!r}")
        if status.encrypted_roster is None or status.aggregate_public_key is None:
            raise GatewayProtocolError("K5: a completed keygen without roster or aggregate")
        assert state.recipient_authorization is not None
        outcome = KeygenOutcome(
            status.authorization_manifest,
            status.recipient_authorization,
            status.encrypted_roster,
            status.aggregate_public_key,
            status.encrypted_subset_aggregates,
        )
        try:
            roster = verify_roster(
                outcome,
                state.manifest,
                state.recipient_authorization,
                SessionCipher(state.credentials.session_secret),
                {u: r for u, r in state.registrations.items() if u in state.accepted},
            )
        except RosterError as exc:
            raise SignerRejectedError(f"keygen roster refused: {exc.message}") from None
        for user_id, registration in roster.registrations.items():
            ours = state.registrations.get(user_id)
            if ours is None or canonical(ours.to_json()) != canonical(registration.to_json()):
                raise SignerRejectedError(f"roster: {user_id}'s registration is not one we made")
        if roster.participants[state.coordinator_user_id] != state.coordinator_pubkey:
            raise SignerRejectedError("roster: the coordinator's key is not the market maker's")
        return roster

    async def keygen_result(self, session: SignerSession) -> KeygenResult | None:
        state = self._state(session)
        roster = await self._verified_roster(state)
        if roster is None:
            return None
        return KeygenResult(dict(roster.participants), roster.aggregate_public_key)

    # -- signing ----------------------------------------------------------------------------

    async def sign_contract(
        self, session: SignerSession, dlc: TicketedDLC, checkpoint: Checkpoint
    ) -> ContractSignatures:
        state = self._state(session)
        # One signing run per keygen session at a time: a second call waits, then resumes
        # from the first one's checkpoints instead of spending quota on batches of its own.
        async with self._lock(state.keygen_session_id):
            return await self._sign_contract(self._fresh(state), dlc, checkpoint)

    async def _sign_contract(
        self, state: KeymeldState, dlc: TicketedDLC, checkpoint: Checkpoint
    ) -> ContractSignatures:
        roster = await self._verified_roster(state)
        if roster is None:
            raise ValidationError("the keygen session has not completed")
        entries = dlc.signing_plan().entries
        subset_of = self._check_contract(state, roster, dlc)
        digest = _contract_digest(entries)
        size = self.limits.max_items_per_signing_session
        resumed = state.signing is not None and state.signing.contract_digest == digest
        if state.signing is not None and resumed:
            batches = list(state.signing.batches)
        else:
            count = -(-len(entries) // size)
            left = state.quota - state.signing_sessions_used
            if count > left:
                raise SignerCapacityError(
                    f"signing sessions: {count} needed, {left} left of the keygen quota "
                    f"{state.quota} (max_signing_sessions, at {size} items each)"
                )
            # As few sessions as the item limit allows, their items spread evenly.
            each = -(-len(entries) // count)
            batches = [
                Batch(str(uuid.uuid4()), start, min(each, len(entries) - start))
                for start in range(0, len(entries), each)
            ]
            state = state.evolve(
                signing=Signing(digest, tuple(batches)),
                signing_sessions_used=state.signing_sessions_used + len(batches),
            )
            await self._checkpoint(checkpoint, state)
        cipher = SessionCipher(state.credentials.session_secret)
        results: dict[int, bytes] = {}
        semaphore = asyncio.Semaphore(self.config.max_concurrent_batches)
        lock = asyncio.Lock()
        # Batches advance together at the gateway: one polls at a time, and by the time the
        # others get their turn they are usually complete (one status request each).
        poll_gate = asyncio.Lock()
        current = [state]

        async def replace_batch(old: Batch) -> Batch:
            async with lock:
                st = current[0]
                if st.signing_sessions_used >= st.quota:
                    raise SignerCapacityError(
                        f"signing sessions: batch {old.signing_session_id} was lost and the "
                        f"keygen quota {st.quota} is spent (max_signing_sessions)"
                    )
                new = Batch(str(uuid.uuid4()), old.start, old.count)
                assert st.signing is not None
                batches_ = tuple(
                    new if b.signing_session_id == old.signing_session_id else b
                    for b in st.signing.batches
                )
                st = st.evolve(
                    signing=Signing(st.signing.contract_digest, batches_),
                    signing_sessions_used=st.signing_sessions_used + 1,
                )
                current[0] = st
                await self._checkpoint(checkpoint, st)
                return new

        async def mark_created(done: Batch) -> Batch:
            async with lock:
                st = current[0]
                assert st.signing is not None
                created = dataclasses.replace(done, created=True)
                batches_ = tuple(
                    created if b.signing_session_id == done.signing_session_id else b
                    for b in st.signing.batches
                )
                st = st.evolve(signing=Signing(st.signing.contract_digest, batches_))
                current[0] = st
                await self._checkpoint(checkpoint, st)
                return created

        async def run(batch: Batch) -> None:
            async with semaphore:
                signatures = await self._sign_batch(
                    current,
                    batch,
                    entries,
                    subset_of,
                    cipher,
                    resumed,
                    BatchSteps(replace_batch, mark_created),
                    poll_gate,
                )
                # Verified as each batch arrives, while the gateway works on the others.
                await asyncio.to_thread(_verify, entries, signatures)
                results.update(signatures)

        await asyncio.gather(*(run(batch) for batch in batches))
        return _assemble(entries, results)

    def _check_contract(
        self, state: KeymeldState, roster: ParticipantRoster, dlc: TicketedDLC
    ) -> dict[tuple[bytes, ...], str | None]:
        """The contract's keys are the roster's; each signer set maps to its subset (or None)."""
        params = dlc.params
        keys = roster.participants
        if params.market_maker.pubkey.to_bytes() != keys[state.coordinator_user_id]:
            raise ValidationError("the contract's market maker is not the keygen coordinator")
        player_keys = sorted(keys[u] for u in state.player_ids)
        if sorted(p.pubkey.to_bytes() for p in params.players) != player_keys:
            raise ValidationError("the contract's players are not the keygen's participants")
        everyone = tuple(sorted(keys.values()))
        if dlc.funding.keys.pubkeys != everyone or (
            dlc.funding.keys.aggregate.to_bytes() != roster.aggregate_public_key
        ):
            raise ValidationError("the contract's funding key is not the keygen aggregate")
        subset_of: dict[tuple[bytes, ...], str | None] = {everyone: None}
        for subset_id, members in state.subsets.items():
            subset_of[tuple(sorted(keys[u] for u in members))] = subset_id
        coordinator_key = keys[state.coordinator_user_id]
        for entry in dlc.signing_plan().entries:
            if entry.keys.pubkeys not in subset_of:
                raise SignerCapacityError(
                    f"{entry.key}: its signer set was not declared as a keygen subset"
                )
            if coordinator_key not in entry.keys.pubkeys:
                raise ValidationError(f"{entry.key}: the coordinator does not co-sign it")
        return subset_of

    def _items(
        self,
        batch: Batch,
        entries: Sequence[SigningEntry],
        subset_of: Mapping[tuple[bytes, ...], str | None],
        cipher: SessionCipher,
    ) -> list[BatchItem]:
        tweak = canonical(NO_TWEAK.to_json())
        items = []
        for offset in range(batch.count):
            index = batch.start + offset
            entry = entries[index]
            item_id = _derived_uuid(batch.signing_session_id, "item", str(index))
            configs = None
            if entry.adaptor is not None:
                config = AdaptorConfig(
                    _derived_uuid(batch.signing_session_id, "adaptor", str(index)),
                    entry.adaptor.to_bytes(),
                )
                configs = cipher.encrypt_hex(Context.ADAPTOR_CONFIGS, canonical([config.to_json()]))
            items.append(
                BatchItem(
                    batch_item_id=item_id,
                    message_hash=entry.sighash,
                    encrypted_message=cipher.encrypt_hex(
                        Context.SESSION_DATA, entry.sighash.hex().encode()
                    ),
                    encrypted_adaptor_configs=configs,
                    encrypted_taproot_tweak=cipher.encrypt_hex(Context.SESSION_DATA, tweak),
                    subset_id=subset_of[entry.keys.pubkeys],
                )
            )
        return items

    async def _sign_batch(
        self,
        current: list[KeymeldState],
        batch: Batch,
        entries: Sequence[SigningEntry],
        subset_of: Mapping[tuple[bytes, ...], str | None],
        cipher: SessionCipher,
        resumed: bool,
        steps: BatchSteps,
        poll_gate: asyncio.Lock,
    ) -> dict[int, bytes]:
        state = current[0]
        user_auth = state.credentials.coordinator_auth_secret
        for _attempt in range(3):
            sid = batch.signing_session_id
            status = None
            if resumed:
                status = await self._probe(state, sid, user_auth)
                if status is None and batch.created:
                    # Sent before the restart and gone since (expired or lost), or never
                    # arrived: sending it again under its id could spend quota the
                    # checkpointed count does not show, so a new (counted) session replaces it.
                    log.warning("signing session %s was lost at the gateway; replacing it", sid)
                    batch = await steps.replace(batch)
                    sid = batch.signing_session_id
            if status is None:
                items = self._items(batch, entries, subset_of, cipher)
                batch = await steps.created(batch)  # persisted before S1 is sent
                await self._create(state, batch, items)
            async with poll_gate:
                status = await self._poll(state, sid, user_auth)
            if status is not None:
                return self._results(status, batch, entries, cipher)
            log.warning("signing session %s expired before completing; replacing it", sid)
            batch = await steps.replace(batch)
            resumed = False
        raise SignerRejectedError(f"items {batch.start}..{batch.start + batch.count}: not signed")

    async def _create(self, state: KeymeldState, batch: Batch, items: list[BatchItem]) -> None:
        timeout = self.config.signing_timeout_secs
        signature = crypto.authorize(
            state.credentials.authority_secret,
            Domain.SIGNING_BATCH,
            signing_batch_payload(
                state.keygen_session_id, batch.signing_session_id, timeout, items
            ),
        )
        request = CreateSigningRequest(
            SigningAuthorization(timeout, signature),
            batch.signing_session_id,
            state.keygen_session_id,
            timeout,
            tuple(items),
        )
        try:
            await _retry_transient(
                lambda: self.gateway.create_signing(request, self._session_proof(state)),
                self.config,
            )
        except GatewayError:
            # An earlier attempt may have arrived although its answer was lost.
            auth = state.credentials.coordinator_auth_secret
            if await self._probe(state, batch.signing_session_id, auth) is None:
                raise

    def _user_proof(self, state: KeymeldState, sid: str, auth: bytes) -> Callable[[], str]:
        return lambda: user_proof(auth, sid, state.coordinator_user_id)

    async def _probe(self, state: KeymeldState, sid: str, auth: bytes) -> SigningStatus | None:
        """The status of a batch that may or may not have been created before a restart."""
        try:
            return await self.gateway.signing_status(
                sid, state.coordinator_user_id, self._user_proof(state, sid, auth), 1 << 20
            )
        except GatewayError as exc:
            if exc.status == 404:
                return None
            raise

    async def _poll(self, state: KeymeldState, sid: str, auth: bytes) -> SigningStatus | None:
        """Poll S3 until completed; None if the session expired or disappeared."""
        deadline = time.monotonic() + self.config.signing_timeout_secs + 30
        next_delay = self.config.poll.delays()
        while time.monotonic() < deadline:
            try:
                status = await self.gateway.signing_status(
                    sid, state.coordinator_user_id, self._user_proof(state, sid, auth), 1 << 20
                )
            except GatewayUnavailableError as exc:
                await asyncio.sleep(exc.retry_after or next_delay())
                continue
            except GatewayError as exc:
                if exc.status == 404:
                    return None
                raise
            if status.status == COMPLETED:
                return status
            if status.expires_at and status.expires_at < self.clock():
                return None
            await asyncio.sleep(next_delay())
        return None

    def _results(
        self,
        status: SigningStatus,
        batch: Batch,
        entries: Sequence[SigningEntry],
        cipher: SessionCipher,
    ) -> dict[int, bytes]:
        """Decrypt and match a completed batch's results to its entries."""
        expected = {
            _derived_uuid(batch.signing_session_id, "item", str(i)): i
            for i in range(batch.start, batch.start + batch.count)
        }
        if len(status.batch_items) != batch.count or any(
            item.batch_item_id not in expected
            or item.message_hash != entries[expected[item.batch_item_id]].sighash
            or cipher.decrypt_hex(Context.SESSION_DATA, item.encrypted_message)
            != entries[expected[item.batch_item_id]].sighash.hex().encode()
            for item in status.batch_items
        ):
            raise SignerRejectedError(
                f"signing session {batch.signing_session_id}: the gateway holds another batch"
            )
        out: dict[int, bytes] = {}
        for result in status.batch_results:
            index = expected.get(result.batch_item_id)
            if index is None:
                raise GatewayProtocolError(f"S3: result for unknown item {result.batch_item_id}")
            entry = entries[index]
            try:
                if entry.adaptor is None:
                    if result.signature is None:
                        continue
                    out[index] = cipher.decrypt_hex(Context.SIGNATURE, result.signature)
                else:
                    if result.adaptor_signatures is None:
                        continue
                    raw = cipher.decrypt_hex(Context.ADAPTOR_SIGNATURES, result.adaptor_signatures)
                    out[index] = _adaptor_signature(raw, entry)
            except (crypto.KeymeldCryptoError, WireError) as exc:
                raise GatewayProtocolError(f"S3: item {entry.key}: {exc.message}") from None
        missing = [str(entries[i].key) for i in sorted(set(expected.values()) - set(out))]
        if missing:
            raise SignerRejectedError(
                f"signing session {batch.signing_session_id}: no signature for "
                + ", ".join(missing[:5])
                + (" …" if len(missing) > 5 else "")
            )
        return out


def _verify(entries: Sequence[SigningEntry], signatures: Mapping[int, bytes]) -> None:
    """Verify a batch's signatures against their entries (in threads: libsecp256k1 calls run
    without the GIL)."""
    try:
        verify_entries([(entries[index], signature) for index, signature in signatures.items()])
    except InvalidSignatureError as exc:
        raise SignerRejectedError(f"the gateway's signatures do not verify: {exc}") from None


def _adaptor_signature(raw: bytes, entry: SigningEntry) -> bytes:
    results = loads(raw, "adaptor signatures", 1 << 16)
    if not isinstance(results, dict) or len(results) != 1:
        raise WireError("adaptor signatures: expected exactly one result")
    result = AdaptorSignatureResult.from_json(next(iter(results.values())))
    assert entry.adaptor is not None
    if result.adaptor_point != entry.adaptor.to_bytes():
        raise WireError("adaptor signatures: signed under another adaptor point")
    return result.signature


def _contract_digest(entries: Sequence[SigningEntry]) -> str:
    hasher = hashlib.sha256()
    for entry in entries:
        hasher.update(
            str(entry.key).encode() + b"\x00" + entry.sighash + b"".join(entry.keys.pubkeys)
        )
        hasher.update(b"" if entry.adaptor is None else entry.adaptor.to_bytes())
    return hasher.hexdigest()


def _assemble(entries: Sequence[SigningEntry], results: Mapping[int, bytes]) -> ContractSignatures:
    outcomes: dict[int, bytes] = {}
    splits: dict[WinCondition, bytes] = {}
    expiry: bytes | None = None
    for index, entry in enumerate(entries):
        signature = results.get(index)
        if signature is None:  # every batch checks its own items: a bug if reached
            raise SignerRejectedError(f"no verified signature for {entry.key}")
        if isinstance(entry.key, WinCondition):
            splits[entry.key] = signature
        elif entry.key.is_expiry:
            expiry = signature
        else:
            outcomes[entry.key.code] = signature
    return ContractSignatures(expiry, outcomes, splits)


async def _retry_transient(call: Callable[[], Awaitable[T]], config: KeymeldConfig) -> T:
    """``call()`` again while the gateway is unavailable, up to the signing timeout."""
    next_delay = config.poll.delays()
    deadline = time.monotonic() + config.signing_timeout_secs
    while True:
        try:
            return await call()
        except GatewayUnavailableError as exc:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(exc.retry_after or next_delay())


__all__ = [
    "EnclaveAttestationError",
    "KeymeldConfig",
    "KeymeldSigner",
    "PollPolicy",
    "TransientError",
    "coordinator_user_id",
]
