"""The devnet keymeld gateway: the 0.10 orchestrated API's checks and session state machines.

Requests are checked in the order keymeld-0.10 §4 gives, with the real gateway's status codes:
400 for bad values, 401 for authentication failures (proofs, manifest and authorization
signatures), 404 for unknown sessions, 409 for slot conflicts and sessions no longer
collecting, 503 when an enclave cannot be reached; framework-level failures (missing typed
header, malformed or ill-typed JSON) are plain-text 400/422 (:class:`PlainError`).

A background loop (:meth:`GatewayService.tick`, every ``tick_secs``) moves up to
``sessions_per_tick`` sessions forward by one state, as the real gateway's coordinator task
does. Known upstream behaviours are kept where a client must cope with them: an item whose
subset lacks the keygen coordinator is silently left out of the results, and a session whose
enclave work fails stays in its state until it expires.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Final

from coordinator_core.keymeld import crypto
from coordinator_core.keymeld.api import (
    BatchResult,
    CreateSigningRequest,
    CreateSigningResponse,
    EnclaveKey,
    InitializeRequest,
    InitializeResponse,
    KeygenStatus,
    RegisterRequest,
    RegisterResponse,
    ReserveRequest,
    ReserveResponse,
    SigningStatus,
    Slot,
    SlotsResponse,
)
from coordinator_core.keymeld.crypto import Context, SessionCipher
from coordinator_core.keymeld.limits import (
    MIN_PARTICIPANTS,
    MIN_SUBSET_MEMBERS,
    REAL_GATEWAY,
    GatewayLimits,
)
from coordinator_core.keymeld.messages import (
    NO_TWEAK,
    AdaptorConfig,
    AdaptorSignatureResult,
    Domain,
    ManifestError,
    ParticipantApproval,
    ParticipantRoster,
    TaprootTweak,
    initialize_payload,
    signing_batch_payload,
    subsets_json,
)
from coordinator_core.keymeld.proofs import SESSION_DOMAIN, USER_DOMAIN, ProofError, verify_proof
from coordinator_core.keymeld.wire import Json, WireError, canonical, loads
from devnet.signer import musig
from devnet.signer.enclave import Attestor, Enclave, EnclaveRejection, new_enclave_secret
from devnet.signer.records import (
    KeygenRecord,
    KeygenState,
    SigningRecord,
    SigningRound,
    SigningState,
)
from devnet.signer.store import GatewayStore
from ticketdlc.contract.engine import process_pool
from ticketdlc.crypto import musig2

log = logging.getLogger(__name__)

NONCE_TTL_SECS: Final = 600
PARALLEL_ITEMS: Final = 400
CLEANUP_INTERVAL_SECS: Final = 300
ERROR_TYPES: Final = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    409: "conflict",
    500: "internal_error",
    503: "enclave_communication_error",
}


class ApiError(Exception):
    """A gateway ``ApiError``: ``{"error": {type, message, code}, "timestamp"}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def type(self) -> str:
        return ERROR_TYPES.get(self.status, "internal_error")


class PlainError(Exception):
    """A framework rejection with a plain-text body (missing header, bad or ill-typed JSON)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class GatewayConfig:
    """Limits and timing of one devnet gateway."""

    limits: GatewayLimits = REAL_GATEWAY
    enclaves: int = 2
    tick_secs: float = 0.1
    sessions_per_tick: int = 20
    workers: int = 1  # worker processes for large signing rounds (1: none)


def _parse(value: Any, reader: Callable[[Any], Any]) -> Any:
    try:
        return reader(value)
    except WireError as exc:
        raise PlainError(422, f"Failed to deserialize the JSON body: {exc.message}") from None


class GatewayService:
    """Every route's logic and the session state machines, over a :class:`GatewayStore`."""

    def __init__(
        self,
        store: GatewayStore,
        config: GatewayConfig,
        attestor: Attestor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.config = config
        self.limits = config.limits
        self.clock = clock
        self._lock = threading.RLock()
        self._pool: Executor | None = None
        self._last_cleanup = 0.0
        self.enclaves: dict[int, Enclave] = {}
        for enclave_id, secret, epoch, generated in store.enclaves():
            # A restarted gateway's enclaves come back with their KMS-restored key, new epoch.
            enclave = Enclave(enclave_id, crypto.secret_key(secret), epoch, generated, attestor)
            enclave.restart(rotate_key=False)
            self.enclaves[enclave_id] = enclave
            self._save_enclave(enclave)
        for enclave_id in range(len(self.enclaves), config.enclaves):
            enclave = Enclave(enclave_id, new_enclave_secret(), 1, self.now(), attestor)
            self.enclaves[enclave_id] = enclave
            self._save_enclave(enclave)
        self.keygens: dict[str, KeygenRecord] = {
            record.id: record for record in (KeygenRecord.from_doc(*row) for row in store.keygens())
        }
        self.signings: dict[str, SigningRecord] = {}
        for request, doc in store.signings():
            record = SigningRecord.from_doc(request, doc, 1 << 20)
            self.signings[record.id] = record

    def now(self) -> int:
        return int(self.clock())

    def _save_enclave(self, enclave: Enclave) -> None:
        self.store.save_enclave(
            enclave.enclave_id, enclave.secret, enclave.epoch, enclave.key_generation_time
        )

    def _save_keygen(self, record: KeygenRecord, new: bool = False) -> None:
        request = record.reserve.to_json() if new else None
        self.store.save_keygen(record.id, request, record.to_doc())

    def _save_signing(self, record: SigningRecord, new: bool = False) -> None:
        request = record.request.to_json() if new else None
        self.store.save_signing(record.id, record.keygen_id, request, record.to_doc())

    # -- authentication ---------------------------------------------------------------------

    def _check_proof(
        self, header: str | None, pubkey: bytes, domain: str, scope: str, user: str = ""
    ) -> None:
        if header is None:
            name = "X-Session-Signature" if domain == SESSION_DOMAIN else "X-User-Signature"
            raise PlainError(400, f"Header of type `{name.lower()}` was missing")
        try:
            replay = verify_proof(header, pubkey, domain, scope, user, now=self.clock())
        except ProofError as exc:
            raise ApiError(401, exc.message) from None
        if not self.store.claim_nonce(replay, self.now() + NONCE_TTL_SECS):
            raise ApiError(401, "Authentication proof already used")

    def _keygen(self, session_id: str) -> KeygenRecord:
        record = self.keygens.get(session_id)
        if record is None:
            raise ApiError(404, "Session not found")
        return record

    def _session_key(self, record: KeygenRecord) -> bytes:
        return record.reserve.authorization_manifest.manifest.session_public_key

    # -- K1 reserve -------------------------------------------------------------------------

    def reserve(self, body: Any) -> Json:
        request: ReserveRequest = _parse(body, ReserveRequest.from_json)
        limits = self.limits
        expected = request.expected_participants
        if not 1 <= len(expected) <= limits.max_participants:
            raise ApiError(400, f"expected_participants must be 1..{limits.max_participants}")
        if len(set(expected)) != len(expected):
            raise ApiError(400, "expected_participants contains duplicates")
        if not 1 <= request.timeout_secs <= limits.max_timeout_secs:
            raise ApiError(400, f"timeout_secs must be 1..{limits.max_timeout_secs}")
        subsets = request.subset_definitions
        if len(subsets) > limits.max_subsets:
            raise ApiError(400, f"at most {limits.max_subsets} subset definitions are allowed")
        if len({s.subset_id for s in subsets}) != len(subsets):
            raise ApiError(400, "duplicate subset_id")
        for subset in subsets:
            if len(subset.participants) < MIN_SUBSET_MEMBERS:
                raise ApiError(400, f"subset {subset.subset_id} has fewer than 2 participants")
            if len(set(subset.participants)) != len(subset.participants):
                raise ApiError(400, f"subset {subset.subset_id} repeats a participant")
            if not set(subset.participants) <= set(expected):
                raise ApiError(400, f"subset {subset.subset_id} names an unexpected participant")
        manifest = request.authorization_manifest
        try:
            manifest.validate()
        except ManifestError as exc:
            status = 401 if "signature" in str(exc) else 400
            raise ApiError(status, f"invalid authorization manifest: {exc}") from None
        m = manifest.manifest
        if set(m.participant_verifiers) != set(expected):
            raise ApiError(400, "expected_participants differ from the manifest's verifiers")
        if (
            m.keygen_session_id != request.keygen_session_id
            or m.coordinator_user_id != request.coordinator_user_id
            or m.timeout_secs != request.timeout_secs
            or m.max_signing_sessions != request.max_signing_sessions
            or m.encrypted_taproot_tweak != request.encrypted_taproot_tweak
            or canonical(subsets_json(m.subset_definitions)) != canonical(subsets_json(subsets))
        ):
            raise ApiError(400, "the request differs from its authorization manifest")
        with self._lock:
            if request.keygen_session_id in self.keygens:
                raise ApiError(400, "keygen session id already exists")
            coordinator_enclave, assignments = self._assign(request)
            enclave = self.enclaves[coordinator_enclave]
            now = self.now()
            record = KeygenRecord(
                reserve=request,
                state=KeygenState.RESERVED,
                created_at=now,
                expires_at=now + request.timeout_secs,
                assignments=assignments,
                coordinator_enclave_id=coordinator_enclave,
                coordinator_key_epoch=enclave.epoch,
            )
            self.keygens[record.id] = record
            self._save_keygen(record, new=True)
        return ReserveResponse(
            assignments,
            record.id,
            coordinator_enclave,
            enclave.public_key_hex,
            enclave.epoch,
            len(expected),
            record.expires_at,
        ).to_json()

    def _assign(self, request: ReserveRequest) -> tuple[int, dict[str, int]]:
        """Coordinator enclave by session-id hash; the others round-robin, newest id first."""
        coordinator = request.coordinator_user_id
        if coordinator not in request.expected_participants:
            raise ApiError(503, "the coordinator user is not an expected participant")
        if len(request.expected_participants) < MIN_PARTICIPANTS:
            raise ApiError(503, "a keygen session needs at least 2 participants")
        ids = sorted(self.enclaves)
        digest = hashlib.sha256(request.keygen_session_id.encode()).digest()
        coordinator_enclave = ids[int.from_bytes(digest[:8], "big") % len(ids)]
        assignments = {coordinator: coordinator_enclave}
        others = [
            u for u in sorted(request.expected_participants, reverse=True) if u != coordinator
        ]
        for i, user in enumerate(others):
            assignments[user] = ids[i % len(ids)]
        if len(ids) > 1 and len(set(assignments.values())) == 1:
            first = others[0]
            assignments[first] = next(e for e in ids if e != coordinator_enclave)
        return coordinator_enclave, assignments

    # -- K2 initialize ----------------------------------------------------------------------

    def initialize(self, session_id: str, body: Any) -> Json:
        request: InitializeRequest = _parse(body, InitializeRequest.from_json)
        with self._lock:
            record = self._keygen(session_id)
            if record.state != KeygenState.RESERVED:
                raise ApiError(400, "the session is not in the reserved state")
            manifest = record.reserve.authorization_manifest
            recipients = request.recipient_authorization
            try:
                recipients.validate(manifest)
            except ManifestError as exc:
                status = 401 if "signature" in str(exc) else 400
                raise ApiError(status, f"invalid recipient authorization: {exc}") from None
            if dict(recipients.user_enclave_assignments) != record.assignments:
                raise ApiError(400, "recipient assignments differ from the gateway's")
            payload = initialize_payload(
                session_id,
                request.coordinator_pubkey,
                request.session_public_key,
                request.encrypted_session_secret,
                request.encrypted_session_data,
                request.enclave_key_epoch,
                recipients,
            )
            if not crypto.is_authorized(
                manifest.manifest.creator_pubkey,
                Domain.INITIALIZE_SESSION,
                payload,
                request.authorization_signature,
            ):
                raise ApiError(401, "the initialize signature does not verify")
            if request.session_public_key != manifest.manifest.session_public_key:
                raise ApiError(400, "session_public_key is not the manifest's")
            enclave = self.enclaves[record.coordinator_enclave_id]
            if request.enclave_key_epoch != enclave.epoch:
                raise ApiError(
                    400,
                    "enclave key epoch mismatch: the enclave may have restarted; "
                    "fetch the latest key",
                )
            for enclave_id, key in recipients.recipient_public_keys.items():
                if self.enclaves[enclave_id].public_key != key:
                    raise ApiError(400, f"enclave {enclave_id} no longer holds the recipient key")
            try:
                secret = enclave.open(bytes.fromhex(request.encrypted_session_secret))
            except (EnclaveRejection, ValueError) as exc:
                raise ApiError(400, f"the session secret does not open: {exc}") from None
            if len(secret) != 32:
                raise ApiError(400, "the session secret is not 32 bytes")
            record.enclave_secrets = {
                enclave_id: (
                    request.encrypted_session_secret
                    if enclave_id == record.coordinator_enclave_id
                    else enclave.reseal_secret(secret, key).hex()
                )
                for enclave_id, key in recipients.recipient_public_keys.items()
            }
            record.initialize = request
            record.state = KeygenState.COLLECTING
            self._save_keygen(record)
        return InitializeResponse(
            session_id, record.state, request.encrypted_session_secret, request.session_public_key
        ).to_json()

    # -- K3 slots ---------------------------------------------------------------------------

    def slots(self, session_id: str, header: str | None) -> Json:
        with self._lock:
            record = self._keygen(session_id)
            self._check_proof(header, self._session_key(record), SESSION_DOMAIN, session_id)
            if record.state == KeygenState.RESERVED:
                raise ApiError(400, "the session is not initialized yet")
            slots = tuple(
                Slot(user, record.assignments[user], index, user in record.registrations)
                for index, user in enumerate(record.descending())
            )
            claimed = sum(1 for slot in slots if slot.claimed)
        return SlotsResponse(session_id, slots, len(slots), claimed).to_json()

    # -- K4 register ------------------------------------------------------------------------

    def register(self, session_id: str, header: str | None, body: Any) -> Json:
        request: RegisterRequest = _parse(body, RegisterRequest.from_json)
        if not request.encrypted_private_key or not request.encrypted_session_data:
            raise ApiError(400, "encrypted_private_key and encrypted_session_data are required")
        with self._lock:
            record = self._keygen(session_id)
            self._check_proof(header, self._session_key(record), SESSION_DOMAIN, session_id)
            if record.state != KeygenState.COLLECTING or record.expires_at <= self.now():
                raise ApiError(409, "the session is not collecting participants")
            if request.keygen_session_id != session_id:
                raise ApiError(400, "keygen_session_id differs from the path")
            manifest = record.reserve.authorization_manifest
            verifier = manifest.manifest.participant_verifiers.get(request.user_id)
            if verifier is None:
                raise ApiError(401, "the user is not an expected participant")
            try:
                ciphertext = bytes.fromhex(request.encrypted_private_key)
            except ValueError:
                raise ApiError(400, "encrypted_private_key is not hex") from None
            authorization = request.registration_authorization
            context = authorization.context
            if (
                authorization.ciphertext_hash != hashlib.sha256(ciphertext).digest()
                or context.keygen_session_id != session_id
                or context.manifest_hash != manifest.manifest_hash
                or context.user_id != request.user_id
                or not authorization.is_valid(verifier)
            ):
                raise ApiError(401, "the slot authorization is not valid for this registration")
            enclave_id = record.assignments[request.user_id]
            enclave = self.enclaves[enclave_id]
            if request.enclave_public_key != enclave.public_key_hex:
                raise ApiError(
                    400,
                    f"enclave public key mismatch (got {request.enclave_public_key[:16]}…): "
                    "fetch the assigned enclave's current key",
                )
            if request.enclave_key_epoch != enclave.epoch:
                raise ApiError(
                    400,
                    "enclave key epoch mismatch: the enclave may have restarted; "
                    "fetch the latest key",
                )
            if (
                context.enclave_id != enclave_id
                or context.enclave_key_epoch != request.enclave_key_epoch
                or context.public_key != request.public_key
                or context.auth_pubkey != request.auth_pubkey
                or context.require_signing_approval != request.require_signing_approval
            ):
                raise ApiError(400, "the registration context differs from the request")
            previous = record.registrations.get(request.user_id)
            if previous is not None:
                if canonical(previous.registration_authorization.to_json()) != canonical(
                    authorization.to_json()
                ):
                    raise ApiError(409, "the slot is already claimed by another registration")
            else:
                try:
                    enclave.validate_registration(session_id, ciphertext, context)
                except EnclaveRejection as exc:
                    raise ApiError(400, f"registration refused by the enclave: {exc}") from None
                record.registrations[request.user_id] = request
                self.store.save_participant(record.id, request.user_id, request.to_json())
            index = record.descending().index(request.user_id)
            registered = len(record.registrations)
        return RegisterResponse(
            session_id,
            request.user_id,
            record.state,
            registered,
            len(record.expected),
            index,
            enclave_id,
            request.require_signing_approval,
        ).to_json()

    # -- K5 status --------------------------------------------------------------------------

    def keygen_status(self, session_id: str, header: str | None) -> Json:
        with self._lock:
            record = self._keygen(session_id)
            if record.state == KeygenState.RESERVED or record.initialize is None:
                raise ApiError(400, "the session is not initialized yet")
            self._check_proof(header, self._session_key(record), SESSION_DOMAIN, session_id)
            result = record.result or {}
            completed = record.state == KeygenState.COMPLETED
            return KeygenStatus(
                record.initialize.recipient_authorization,
                record.reserve.authorization_manifest,
                result.get("encrypted_roster"),
                session_id,
                record.state,
                len(record.expected),
                len(record.registrations),
                result.get("aggregate_public_key"),
                0 if completed else record.expires_at,
                result.get("encrypted_subset_aggregates", {}),
            ).to_json()

    # -- S1 create signing ------------------------------------------------------------------

    def create_signing(self, header: str | None, body: Any) -> Json:
        request: CreateSigningRequest = _parse(
            body, lambda value: CreateSigningRequest.from_json(value, 1 << 20)
        )
        limits = self.limits
        if not 1 <= request.timeout_secs <= limits.max_timeout_secs:
            raise ApiError(400, f"timeout_secs must be 1..{limits.max_timeout_secs}")
        items = request.batch_items
        if not 1 <= len(items) <= limits.max_batch_items:
            raise ApiError(400, f"a batch holds 1..{limits.max_batch_items} items")
        if len({item.batch_item_id for item in items}) != len(items):
            raise ApiError(400, "duplicate batch_item_id")
        for item in items:
            if len(item.message_hash) != 32:
                raise ApiError(400, "message_hash must be 32 bytes")
            if not item.encrypted_message or item.encrypted_adaptor_configs == "":
                raise ApiError(400, "encrypted_message and encrypted_adaptor_configs are required")
        with self._lock:
            record = self._keygen(request.keygen_session_id)
            self._check_proof(
                header, self._session_key(record), SESSION_DOMAIN, request.keygen_session_id
            )
            if request.signing_session_id in self.signings:
                raise ApiError(400, "signing session id already exists")
            if request.signing_authorization.timeout_secs != request.timeout_secs:
                raise ApiError(400, "signing_authorization.timeout_secs differs from timeout_secs")
            manifest = record.reserve.authorization_manifest.manifest
            payload = signing_batch_payload(
                request.keygen_session_id, request.signing_session_id, request.timeout_secs, items
            )
            if not crypto.is_authorized(
                manifest.signing_pubkey,
                Domain.SIGNING_BATCH,
                payload,
                request.signing_authorization.signature,
            ):
                raise ApiError(401, "the signing authorization does not verify")
            quota = manifest.max_signing_sessions
            quota = limits.max_signing_sessions if quota is None else quota
            if record.signing_sessions_created >= quota:
                raise ApiError(400, f"signing session quota exhausted ({quota} per keygen)")
            if record.state != KeygenState.COMPLETED:
                raise ApiError(400, "the keygen session is not completed")
            adaptors = self._check_adaptor_configs(record, request)
            now = self.now()
            signing = SigningRecord(
                request=request,
                state=SigningState.COLLECTING,
                created_at=now,
                expires_at=now + request.timeout_secs,
                participants=record.expected,
                requiring_approval=tuple(
                    u for u, r in sorted(record.registrations.items()) if r.require_signing_approval
                ),
                adaptors=adaptors,
            )
            record.signing_sessions_created += 1
            self.signings[signing.id] = signing
            self._save_keygen(record)
            self._save_signing(signing, new=True)
        return CreateSigningResponse(
            signing.id, record.id, signing.state, len(signing.participants), signing.expires_at
        ).to_json()

    def _cipher(self, record: KeygenRecord, enclave_id: int) -> SessionCipher:
        enclave = self.enclaves[enclave_id]
        sealed = bytes.fromhex(record.enclave_secrets[enclave_id])
        return SessionCipher(enclave.session_secret(record.id, sealed))

    def _check_adaptor_configs(
        self, record: KeygenRecord, request: CreateSigningRequest
    ) -> dict[str, AdaptorConfig]:
        """The coordinator enclave refuses And/Or, bad points and duplicate ids up front; the
        configs it opened, by batch item id."""
        try:
            cipher = self._cipher(record, record.coordinator_enclave_id)
        except EnclaveRejection as exc:
            raise ApiError(503, f"coordinator enclave unavailable: {exc}") from None
        configs: dict[str, AdaptorConfig] = {}
        for item in request.batch_items:
            if item.encrypted_adaptor_configs is None:
                continue
            try:
                configs[item.batch_item_id] = self._adaptor_config(
                    cipher, item.encrypted_adaptor_configs
                )
            except (crypto.KeymeldCryptoError, WireError) as exc:
                raise ApiError(400, f"item {item.batch_item_id}: {exc.message}") from None
        return configs

    @staticmethod
    def _adaptor_config(cipher: SessionCipher, blob: str) -> AdaptorConfig:
        raw = loads(cipher.decrypt_hex(Context.ADAPTOR_CONFIGS, blob), "adaptor configs", 1 << 16)
        if not isinstance(raw, list) or len(raw) != 1:
            raise WireError("adaptor configs: exactly one Single adaptor per item is supported")
        return AdaptorConfig.from_json(raw[0])

    # -- S2 approve, S3 status --------------------------------------------------------------

    def _signing_for_user(
        self, signing_id: str, user_id: str, header: str | None
    ) -> tuple[SigningRecord, KeygenRecord]:
        signing = self.signings.get(signing_id)
        if signing is None:
            raise ApiError(404, "Signing session not found")
        record = self._keygen(signing.keygen_id)
        registration = record.registrations.get(user_id)
        if registration is None:
            raise ApiError(401, "the user is not a participant of this session")
        self._check_proof(header, registration.auth_pubkey, USER_DOMAIN, signing_id, user_id)
        return signing, record

    def approve(self, signing_id: str, user_id: str, header: str | None, body: Any) -> None:
        approval: ParticipantApproval = _parse(body, ParticipantApproval.from_json)
        with self._lock:
            signing, record = self._signing_for_user(signing_id, user_id, header)
            registration = record.registrations[user_id]
            now = self.now()
            if approval.user_id != user_id or not now - 300 <= approval.timestamp <= now + 30:
                raise ApiError(400, "the approval is stale, from the future or for another user")
            auth_pubkey = registration.registration_authorization.context.auth_pubkey
            if not approval.is_valid(
                auth_pubkey, record.id, signing_id, signing.request.batch_items
            ):
                raise ApiError(401, "the approval signature does not verify")
            signing.approvals[user_id] = approval
            self._save_signing(signing)

    def signing_status(self, signing_id: str, user_id: str, header: str | None) -> Json:
        with self._lock:
            signing, _ = self._signing_for_user(signing_id, user_id, header)
            collecting = signing.state == SigningState.COLLECTING
            return SigningStatus(
                signing.request.batch_items,
                signing.id,
                signing.keygen_id,
                signing.state,
                len(signing.participants),
                len(signing.participants),
                signing.expires_at,
                signing.requiring_approval if collecting else (),
                tuple(sorted(signing.approvals)) if collecting else (),
                tuple(signing.results or ()),
            ).to_json()

    # -- enclaves ---------------------------------------------------------------------------

    def enclave_key(self, enclave_id: int, nonce: bytes | None) -> Json:
        enclave = self.enclaves.get(enclave_id)
        if enclave is None:
            raise ApiError(503, f"enclave {enclave_id} is not reachable")
        document = enclave.attestation(nonce)
        return EnclaveKey(
            enclave_id,
            enclave.public_key_hex,
            document.hex(),
            {},
            self.now(),
            True,
            enclave.epoch,
        ).to_json()

    def enclave_list(self) -> dict[str, Any]:
        entries = [
            {
                "enclave_id": e.enclave_id,
                "healthy": True,
                "public_key": e.public_key_hex,
                "attestation_document": "",
                "key_epoch": e.epoch,
                "key_generation_time": e.key_generation_time,
                "last_health_check": self.now(),
            }
            for e in self.enclaves.values()
        ]
        return {
            "enclaves": entries,
            "total_enclaves": len(entries),
            "healthy_enclaves": len(entries),
        }

    def restart_enclave(self, enclave_id: int, rotate_key: bool) -> dict[str, Any]:
        """Devnet control: restart an enclave (new epoch; new key only if ``rotate_key``)."""
        with self._lock:
            enclave = self.enclaves.get(enclave_id)
            if enclave is None:
                raise ApiError(404, f"no enclave {enclave_id}")
            enclave.restart(rotate_key)
            self._save_enclave(enclave)
            for signing in self.signings.values():
                if signing.state not in (SigningState.COLLECTING, SigningState.COMPLETED):
                    keygen = self.keygens.get(signing.keygen_id)
                    if keygen is not None and enclave_id in keygen.enclave_secrets:
                        signing.state = SigningState.COLLECTING
                        signing.round = None
                        self._save_signing(signing)
        return self.enclave_stats()

    def enclave_stats(self) -> dict[str, Any]:
        return {
            "enclaves": [
                {
                    "enclave_id": e.enclave_id,
                    "key_epoch": e.epoch,
                    "public_key": e.public_key_hex,
                    "nonces_issued": e.nonces_issued,
                    "nonce_reuse": e.nonce_reuse,
                }
                for e in self.enclaves.values()
            ],
            "keygen_sessions": len(self.keygens),
            "keygen_states": _count(k.state for k in self.keygens.values()),
            "signing_sessions": len(self.signings),
            "signing_states": _count(s.state for s in self.signings.values()),
        }

    def health(self) -> dict[str, Any]:
        active = sum(1 for s in self.signings.values() if s.state != SigningState.COMPLETED)
        return {
            "status": "healthy",
            "version": "0.10.5-devnet",
            "active_sessions": active,
            "healthy_enclaves": len(self.enclaves),
            "total_enclaves": len(self.enclaves),
            "database_stats": {
                "total_sessions": len(self.keygens) + len(self.signings),
                "active_sessions": active,
                "total_participants": sum(len(k.expected) for k in self.keygens.values()),
                "database_size_bytes": 0,
            },
        }

    # -- background coordinator -------------------------------------------------------------

    def tick(self) -> int:
        """Advance up to ``sessions_per_tick`` sessions by one state; returns how many moved."""
        now = self.now()
        with self._lock:
            if now - self._last_cleanup >= CLEANUP_INTERVAL_SECS:
                self._cleanup(now)
            keygens = [
                k
                for k in self.keygens.values()
                if k.state == KeygenState.COLLECTING
                and k.expires_at > now
                and len(k.registrations) == len(k.expected)
            ]
            signings = [
                s
                for s in self.signings.values()
                if s.state != SigningState.COMPLETED and s.expires_at > now
            ]
        work = (keygens + signings)[: self.config.sessions_per_tick]
        moved = 0
        for record in work:
            started = time.perf_counter()
            try:
                if isinstance(record, KeygenRecord):
                    self._complete_keygen(record)
                else:
                    self._advance_signing(record)
                moved += 1
                log.debug(
                    "session %s now %s (%.3f s)",
                    record.id,
                    record.state,
                    time.perf_counter() - started,
                )
            except Exception as exc:  # a failing session stays in its state, as upstream
                log.warning("session %s did not advance: %s", record.id, exc)
        return moved

    def _cleanup(self, now: int) -> None:
        self._last_cleanup = now
        expired_keygens = [k.id for k in self.keygens.values() if k.expires_at <= now]
        expired_signings = [
            s.id
            for s in self.signings.values()
            if s.expires_at <= now or s.keygen_id in expired_keygens
        ]
        for sid in expired_signings:
            self.signings.pop(sid, None)
        for kid in expired_keygens:
            self.keygens.pop(kid, None)
            for enclave in self.enclaves.values():
                enclave.forget_session(kid)
        self.store.delete_sessions(expired_keygens, expired_signings)
        self.store.prune_nonces(now)

    def _local_signers(
        self, record: KeygenRecord, enclave_id: int
    ) -> dict[bytes, musig.LocalSigner]:
        """The participant keys an enclave holds (decrypted again after a restart)."""
        enclave = self.enclaves[enclave_id]
        out: dict[bytes, musig.LocalSigner] = {}
        for user, assigned in record.assignments.items():
            if assigned != enclave_id:
                continue
            signer = enclave.participant(record.id, user)
            if signer is None:
                registration = record.registrations[user]
                signer = enclave.validate_registration(
                    record.id,
                    bytes.fromhex(registration.encrypted_private_key),
                    registration.registration_authorization.context,
                )
            out[signer.pubkey] = signer
        return out

    def _keygen_tweak(self, record: KeygenRecord, cipher: SessionCipher) -> TaprootTweak:
        try:
            raw = cipher.decrypt_hex(Context.TAPROOT_TWEAK, record.reserve.encrypted_taproot_tweak)
            return TaprootTweak.from_json(loads(raw, "tweak", 4096))
        except (crypto.KeymeldCryptoError, WireError, ValueError):
            return NO_TWEAK  # upstream reads an empty or undecryptable tweak as none

    def _complete_keygen(self, record: KeygenRecord) -> None:
        """All registered: enclaves load their keys; the coordinator enclave signs the roster."""
        for enclave_id in set(record.assignments.values()):
            self._local_signers(record, enclave_id)
        coordinator = self.enclaves[record.coordinator_enclave_id]
        cipher = self._cipher(record, record.coordinator_enclave_id)
        tweak = self._keygen_tweak(record, cipher)
        # each equals its request's key (checked at K4); the context's is a parsed point
        keys = {
            u: r.registration_authorization.context.public_key
            for u, r in record.registrations.items()
        }
        aggregate = tweak.aggregate(sorted(keys.values())).Q.to_bytes()
        subsets = record.reserve.subset_definitions
        subset_keys = {
            s.subset_id: tweak.aggregate(sorted(keys[u] for u in s.participants)).Q.to_bytes()
            for s in subsets
        }
        roster = ParticipantRoster(
            record.id,
            record.reserve.authorization_manifest.manifest_hash,
            keys,
            {u: r.registration_authorization for u, r in record.registrations.items()},
            aggregate,
            subset_keys,
            subsets,
            tweak,
        )
        signed = coordinator.sign_roster(roster)
        result = {
            "encrypted_roster": cipher.encrypt_hex(Context.ROSTER, canonical(signed.to_json())),
            "aggregate_public_key": cipher.encrypt_hex(Context.AGGREGATE_PUBLIC_KEY, aggregate),
            "encrypted_subset_aggregates": {
                sid: cipher.encrypt_hex(Context.SUBSET_AGGREGATE_PUBLIC_KEY, key)
                for sid, key in subset_keys.items()
            },
        }
        with self._lock:
            if record.state == KeygenState.COLLECTING and self.keygens.get(record.id) is record:
                record.result = result
                record.state = KeygenState.COMPLETED
                self._save_keygen(record)

    def _advance_signing(self, signing: SigningRecord) -> None:
        record = self.keygens.get(signing.keygen_id)
        if record is None:
            raise RuntimeError("the keygen session is gone")
        state = signing.state
        if state == SigningState.COLLECTING:
            if all(user in signing.approvals for user in signing.requiring_approval):
                self._set_state(signing, state, SigningState.INITIALIZING)
            return
        if state == SigningState.INITIALIZING or signing.round is None:
            signing.round = self._init_round(record, signing)
            self._set_state(signing, state, SigningState.DISTRIBUTING)
        elif state == SigningState.DISTRIBUTING:
            self._distribute(record, signing, signing.round)
            self._set_state(signing, state, SigningState.FINALIZING)
        elif state == SigningState.FINALIZING:
            signing.results = self._finalize(record, signing.round)
            signing.round = None
            self._set_state(signing, state, SigningState.COMPLETED)

    def _set_state(self, signing: SigningRecord, expected: str, new: str) -> None:
        with self._lock:
            if signing.state == expected and self.signings.get(signing.id) is signing:
                signing.state = new
                self._save_signing(signing)

    def _init_round(self, record: KeygenRecord, signing: SigningRecord) -> SigningRound:
        """InitSession on every enclave: decrypt the batch, then round-1 nonces."""
        cipher = self._cipher(record, record.coordinator_enclave_id)
        # each equals its request's key (checked at K4); the context's is a parsed point
        keys = {
            u: r.registration_authorization.context.public_key
            for u, r in record.registrations.items()
        }
        all_keys: tuple[bytes, ...] = tuple(sorted(keys.values()))
        subsets = {s.subset_id: s.participants for s in record.reserve.subset_definitions}
        keygen_tweak = self._keygen_tweak(record, cipher)
        coordinator_key = keys[record.coordinator_user_id]
        items: list[musig.SigningItem] = []
        # per subset of this keygen: its sorted keys and the keygen tweak's BIP-327 tweaks
        subset_groups: dict[str, tuple[tuple[bytes, ...], tuple[bytes, ...], tuple[bool, ...]]] = {}
        for index, item in enumerate(signing.request.batch_items):
            message = bytes.fromhex(
                cipher.decrypt(Context.SESSION_DATA, bytes.fromhex(item.encrypted_message)).decode()
            )
            if item.subset_id is None:
                raw_tweak = cipher.decrypt_hex(Context.SESSION_DATA, item.encrypted_taproot_tweak)
                tweak = TaprootTweak.from_json(loads(raw_tweak, "tweak", 4096))
                signers = all_keys
                tweaks, is_xonly = tweak.musig_tweaks(musig2.key_agg(signers).Q)
            else:
                group = subset_groups.get(item.subset_id)
                if group is None:
                    members = subsets.get(item.subset_id)
                    if members is None:
                        raise EnclaveRejection(f"unknown subset {item.subset_id}")
                    keys_ = tuple(sorted(keys[u] for u in members))
                    group = (keys_, *keygen_tweak.musig_tweaks(musig2.key_agg(keys_).Q))
                    subset_groups[item.subset_id] = group
                signers, tweaks, is_xonly = group
            if coordinator_key not in signers:
                continue  # no coordinator round: upstream silently leaves the item out
            adaptor_id = adaptor_point = None
            if item.encrypted_adaptor_configs is not None:
                config = signing.adaptors.get(item.batch_item_id) or self._adaptor_config(
                    cipher, item.encrypted_adaptor_configs
                )
                adaptor_id, adaptor_point = config.adaptor_id, config.adaptor_point
            items.append(
                musig.SigningItem(
                    index,
                    item.batch_item_id,
                    message,
                    signers,
                    tweaks,
                    is_xonly,
                    adaptor_id,
                    adaptor_point,
                )
            )
        enclave_ids = sorted(set(record.assignments.values()))
        round_ = SigningRound(items, {e: self.enclaves[e].new_round_seed() for e in enclave_ids})
        for enclave_id in enclave_ids:
            self._cipher(record, enclave_id)  # each enclave opens its copy of the secret
            groups = musig.LocalGroups(self._local_signers(record, enclave_id))
            round_.groups[enclave_id] = groups
            table = groups.table(items)
            seed = round_.seeds[enclave_id]
            results = self._map(musig.nonces_chunk, items, _nonce_args(seed, table))
            nonces: dict[int, bytes] = {}
            for item_, nonce in zip(items, results, strict=True):
                if nonce is not None:
                    self.enclaves[enclave_id].record_nonce(nonce)
                    nonces[item_.index] = nonce
            round_.nonces[enclave_id] = nonces
        return round_

    def _map(
        self,
        function: Callable[..., list[Any]],
        items: list[musig.SigningItem],
        arguments: ChunkArgs,
    ) -> list[Any]:
        """``function`` over ``items`` in chunks, in the worker processes for large rounds."""
        pool = self._workers()
        if pool is None or len(items) < PARALLEL_ITEMS:
            return function(*arguments(items))
        size = -(-len(items) // (2 * self.config.workers))
        futures = [
            pool.submit(function, *arguments(items[i : i + size]))
            for i in range(0, len(items), size)
        ]
        return [value for future in futures for value in future.result()]

    def _workers(self) -> Executor | None:
        if self.config.workers <= 1:
            return None
        if self._pool is None:
            self._pool = process_pool(self.config.workers)
        return self._pool

    def close(self) -> None:
        """Stop the worker processes and close the store."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self.store.close()

    def _distribute(
        self, record: KeygenRecord, signing: SigningRecord, round_: SigningRound
    ) -> None:
        """DistributeNonces: per item, the aggregate nonce, its session values (derived once)
        and every enclave's partial signature."""
        items = round_.items
        enclave_ids = sorted(round_.nonces)
        enclaves = [(round_.seeds[e], round_.groups[e]) for e in enclave_ids]
        nonces = {
            item.index: [round_.nonces[e].get(item.index) for e in enclave_ids] for item in items
        }
        results = self._map(musig.distribute_chunk, items, _distribute_args(nonces, enclaves))
        round_.partials = {e: {} for e in enclave_ids}
        for item, (finalization, partials) in zip(items, results, strict=True):
            round_.sessions[item.index] = finalization
            for enclave_id, share in zip(enclave_ids, partials, strict=True):
                if share is not None:
                    round_.partials[enclave_id][item.index] = share

    def _members_by_enclave(
        self, record: KeygenRecord, item: musig.SigningItem
    ) -> dict[int, list[bytes]]:
        out: dict[int, list[bytes]] = {}
        for user, enclave_id in record.assignments.items():
            key = record.registrations[user].public_key
            if key in item.signers:
                out.setdefault(enclave_id, []).append(key)
        return out

    def _finalize(self, record: KeygenRecord, round_: SigningRound) -> list[BatchResult]:
        """FinalizeSignature on the coordinator enclave: aggregate, verify, encrypt."""
        cipher = self._cipher(record, record.coordinator_enclave_id)
        regular: list[BatchResult] = []
        adaptors: list[BatchResult] = []
        items = round_.items
        signatures = self._map(musig.finals_chunk, items, _final_args(round_))
        for item, signature in zip(items, signatures, strict=True):
            aggnonce = round_.sessions[item.index].aggnonce
            if signature is None:
                blamed = [
                    enclave_id
                    for enclave_id, local in self._members_by_enclave(record, item).items()
                    if not musig.partial_valid(
                        item,
                        aggnonce,
                        round_.nonces[enclave_id][item.index],
                        local,
                        round_.partials[enclave_id][item.index],
                    )
                ]
                log.warning("item %s: invalid partial from enclaves %s", item.batch_item_id, blamed)
                continue
            if item.adaptor_point is None:
                blob = cipher.encrypt_hex(Context.SIGNATURE, signature)
                regular.append(BatchResult(item.batch_item_id, blob, None, None))
            else:
                assert item.adaptor_id is not None
                result = AdaptorSignatureResult(
                    item.adaptor_id, signature, aggnonce, item.adaptor_point
                )
                payload = canonical({item.adaptor_id: result.to_json()})
                blob = cipher.encrypt_hex(Context.ADAPTOR_SIGNATURES, payload)
                adaptors.append(BatchResult(item.batch_item_id, None, blob, None))
        regular.sort(key=lambda r: r.batch_item_id)
        adaptors.sort(key=lambda r: r.batch_item_id)
        return regular + adaptors


ChunkArgs = Callable[[list[musig.SigningItem]], tuple[Any, ...]]
"""The arguments of a chunk function for one chunk of items."""


def _nonce_args(seed: bytes, table: musig.Groups) -> ChunkArgs:
    return lambda chunk: (seed, chunk, table)


def _distribute_args(
    nonces: dict[int, list[bytes | None]], enclaves: list[tuple[bytes, musig.LocalGroups]]
) -> ChunkArgs:
    def build(chunk: list[musig.SigningItem]) -> tuple[Any, ...]:
        tables = [(seed, groups.table(chunk)) for seed, groups in enclaves]
        return (chunk, [nonces[i.index] for i in chunk], tables)

    return build


def _final_args(round_: SigningRound) -> ChunkArgs:
    def build(chunk: list[musig.SigningItem]) -> tuple[Any, ...]:
        partials = [[p[i.index] for p in round_.partials.values() if i.index in p] for i in chunk]
        return (chunk, [round_.sessions[i.index] for i in chunk], partials)

    return build


def _count(states: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for state in states:
        out[state] = out.get(state, 0) + 1
    return out
