"""Request and response bodies of the keymeld 0.10 orchestrated API (keymeld-0.10 §4, §6).

The client builds requests and reads responses with these types; the devnet gateway reads
requests and writes responses with the same ones, so field names, order and encodings are
stated once. ``from_json`` raises :class:`~coordinator_core.keymeld.wire.WireError` for a
missing or ill-typed field (the gateway's 422); semantic checks belong to the callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from coordinator_core.keymeld import crypto
from coordinator_core.keymeld.messages import (
    MAX_ITEMS,
    MAX_PARTICIPANTS,
    MAX_SUBSETS,
    BatchItem,
    RecipientAuthorization,
    RegistrationAuthorization,
    SignedManifest,
    SubsetDefinition,
    subsets_from_json,
    subsets_json,
)
from coordinator_core.keymeld.wire import (
    Json,
    as_bool,
    as_bytes,
    as_hex,
    as_int,
    as_list,
    as_map,
    as_object,
    as_str,
    as_uuid,
    btree,
    byte_list,
    field,
)
from ticketdlc.typed_bytes import CompressedPubkey

MAX_HEX: Final = 1 << 22
MAX_DOCUMENT_BYTES: Final = 64 * 1024
U32: Final = (1 << 32) - 1


def _key(value: Any, what: str) -> bytes:
    return as_bytes(value, what, max_size=65)


def _enclave(value: Any, what: str) -> int:
    return as_int(value, what, 0, U32)


# ---------------------------------------------------------------------------------------------
# K1 reserve


@dataclass(frozen=True)
class ReserveRequest:
    authorization_manifest: SignedManifest
    keygen_session_id: str
    coordinator_user_id: str
    expected_participants: tuple[str, ...]
    timeout_secs: int
    max_signing_sessions: int | None
    encrypted_taproot_tweak: str
    subset_definitions: tuple[SubsetDefinition, ...]

    @classmethod
    def of(cls, manifest: SignedManifest) -> ReserveRequest:
        """The reserve request a signed manifest describes."""
        m = manifest.manifest
        return cls(
            manifest,
            m.keygen_session_id,
            m.coordinator_user_id,
            tuple(m.participant_verifiers),
            m.timeout_secs,
            m.max_signing_sessions,
            m.encrypted_taproot_tweak,
            m.subset_definitions,
        )

    def to_json(self) -> Json:
        return {
            "authorization_manifest": self.authorization_manifest.to_json(),
            "keygen_session_id": self.keygen_session_id,
            "coordinator_user_id": self.coordinator_user_id,
            "expected_participants": list(self.expected_participants),
            "timeout_secs": self.timeout_secs,
            "max_signing_sessions": self.max_signing_sessions,
            "encrypted_taproot_tweak": self.encrypted_taproot_tweak,
            "subset_definitions": subsets_json(self.subset_definitions),
        }

    @classmethod
    def from_json(cls, value: Any) -> ReserveRequest:
        w = "reserve"
        obj = as_object(value, w)
        limit = obj.get("max_signing_sessions")
        return cls(
            SignedManifest.from_json(field(obj, "authorization_manifest", w)),
            as_uuid(field(obj, "keygen_session_id", w), "keygen_session_id"),
            as_uuid(field(obj, "coordinator_user_id", w), "coordinator_user_id"),
            tuple(
                as_uuid(u, "expected_participants")
                for u in as_list(
                    field(obj, "expected_participants", w),
                    "expected_participants",
                    MAX_PARTICIPANTS,
                )
            ),
            as_int(field(obj, "timeout_secs", w), "timeout_secs"),
            None if limit is None else as_int(limit, "max_signing_sessions", 0, U32),
            as_str(obj.get("encrypted_taproot_tweak", ""), "encrypted_taproot_tweak", 4096),
            subsets_from_json(obj.get("subset_definitions", []), "subset_definitions", MAX_SUBSETS),
        )


@dataclass(frozen=True)
class ReserveResponse:
    user_enclave_assignments: Mapping[str, int]
    keygen_session_id: str
    coordinator_enclave_id: int
    coordinator_public_key: str
    coordinator_key_epoch: int
    expected_participants: int
    expires_at: int

    def to_json(self) -> Json:
        return {
            "user_enclave_assignments": btree(dict(self.user_enclave_assignments)),
            "keygen_session_id": self.keygen_session_id,
            "coordinator_enclave_id": self.coordinator_enclave_id,
            "coordinator_public_key": self.coordinator_public_key,
            "coordinator_key_epoch": self.coordinator_key_epoch,
            "expected_participants": self.expected_participants,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, value: Any) -> ReserveResponse:
        w = "reserve response"
        obj = as_object(value, w)
        assignments = as_map(field(obj, "user_enclave_assignments", w), w, MAX_PARTICIPANTS)
        return cls(
            {as_uuid(u, w): _enclave(e, w) for u, e in assignments.items()},
            as_uuid(field(obj, "keygen_session_id", w), w),
            _enclave(field(obj, "coordinator_enclave_id", w), w),
            as_hex(field(obj, "coordinator_public_key", w), w, 33, 33).hex(),
            as_int(field(obj, "coordinator_key_epoch", w), w),
            as_int(field(obj, "expected_participants", w), w),
            as_int(field(obj, "expires_at", w), w),
        )


# ---------------------------------------------------------------------------------------------
# K2 initialize


@dataclass(frozen=True)
class InitializeRequest:
    recipient_authorization: RecipientAuthorization
    authorization_signature: bytes
    coordinator_pubkey: bytes
    session_public_key: bytes
    encrypted_session_secret: str
    encrypted_session_data: str
    enclave_key_epoch: int

    def to_json(self) -> Json:
        return {
            "recipient_authorization": self.recipient_authorization.to_json(),
            "authorization_signature": byte_list(self.authorization_signature),
            "coordinator_pubkey": byte_list(self.coordinator_pubkey),
            "session_public_key": byte_list(self.session_public_key),
            "encrypted_session_secret": self.encrypted_session_secret,
            "encrypted_session_data": self.encrypted_session_data,
            "enclave_key_epoch": self.enclave_key_epoch,
        }

    @classmethod
    def from_json(cls, value: Any) -> InitializeRequest:
        w = "initialize"
        obj = as_object(value, w)
        return cls(
            RecipientAuthorization.from_json(field(obj, "recipient_authorization", w)),
            as_bytes(field(obj, "authorization_signature", w), "authorization_signature", 64),
            _key(field(obj, "coordinator_pubkey", w), "coordinator_pubkey"),
            _key(field(obj, "session_public_key", w), "session_public_key"),
            as_str(field(obj, "encrypted_session_secret", w), "encrypted_session_secret", MAX_HEX),
            as_str(field(obj, "encrypted_session_data", w), "encrypted_session_data", MAX_HEX),
            as_int(field(obj, "enclave_key_epoch", w), "enclave_key_epoch"),
        )


@dataclass(frozen=True)
class InitializeResponse:
    keygen_session_id: str
    status: str
    session_secret: str  # the ECIES ciphertext, echoed
    session_public_key: bytes

    def to_json(self) -> Json:
        return {
            "keygen_session_id": self.keygen_session_id,
            "status": self.status,
            "session_secret": self.session_secret,
            "session_public_key": byte_list(self.session_public_key),
        }

    @classmethod
    def from_json(cls, value: Any) -> InitializeResponse:
        w = "initialize response"
        obj = as_object(value, w)
        return cls(
            as_uuid(field(obj, "keygen_session_id", w), w),
            as_str(field(obj, "status", w), w, 64),
            as_str(field(obj, "session_secret", w), w, MAX_HEX),
            _key(field(obj, "session_public_key", w), w),
        )


# ---------------------------------------------------------------------------------------------
# K3 slots


@dataclass(frozen=True)
class Slot:
    user_id: str
    enclave_id: int
    signer_index: int
    claimed: bool

    def to_json(self) -> Json:
        return {
            "user_id": self.user_id,
            "enclave_id": self.enclave_id,
            "signer_index": self.signer_index,
            "claimed": self.claimed,
        }


@dataclass(frozen=True)
class SlotsResponse:
    session_id: str
    available_slots: tuple[Slot, ...]
    total_slots: int
    claimed_slots: int

    def to_json(self) -> Json:
        return {
            "session_id": self.session_id,
            "available_slots": [slot.to_json() for slot in self.available_slots],
            "total_slots": self.total_slots,
            "claimed_slots": self.claimed_slots,
        }

    @classmethod
    def from_json(cls, value: Any) -> SlotsResponse:
        w = "slots response"
        obj = as_object(value, w)
        slots = []
        for item in as_list(field(obj, "available_slots", w), w, MAX_PARTICIPANTS):
            slot = as_object(item, w)
            slots.append(
                Slot(
                    as_uuid(field(slot, "user_id", w), w),
                    _enclave(field(slot, "enclave_id", w), w),
                    as_int(field(slot, "signer_index", w), w),
                    as_bool(field(slot, "claimed", w), w),
                )
            )
        return cls(
            as_uuid(field(obj, "session_id", w), w),
            tuple(slots),
            as_int(field(obj, "total_slots", w), w),
            as_int(field(obj, "claimed_slots", w), w),
        )


# ---------------------------------------------------------------------------------------------
# K4 register


@dataclass(frozen=True)
class RegisterRequest:
    registration_authorization: RegistrationAuthorization
    keygen_session_id: str
    user_id: str
    encrypted_private_key: str  # hex ECIES of the JSON RegistrationEnvelope
    public_key: bytes
    encrypted_session_data: str
    enclave_public_key: str
    enclave_key_epoch: int
    require_signing_approval: bool
    auth_pubkey: bytes

    def to_json(self) -> Json:
        return {
            "registration_authorization": self.registration_authorization.to_json(),
            "keygen_session_id": self.keygen_session_id,
            "user_id": self.user_id,
            "encrypted_private_key": self.encrypted_private_key,
            "public_key": byte_list(self.public_key),
            "encrypted_session_data": self.encrypted_session_data,
            "enclave_public_key": self.enclave_public_key,
            "enclave_key_epoch": self.enclave_key_epoch,
            "require_signing_approval": self.require_signing_approval,
            "auth_pubkey": byte_list(self.auth_pubkey),
        }

    @classmethod
    def from_json(cls, value: Any) -> RegisterRequest:
        w = "register"
        obj = as_object(value, w)
        return cls(
            RegistrationAuthorization.from_json(field(obj, "registration_authorization", w)),
            as_uuid(field(obj, "keygen_session_id", w), "keygen_session_id"),
            as_uuid(field(obj, "user_id", w), "user_id"),
            as_str(field(obj, "encrypted_private_key", w), "encrypted_private_key", MAX_HEX),
            _key(field(obj, "public_key", w), "public_key"),
            as_str(field(obj, "encrypted_session_data", w), "encrypted_session_data", MAX_HEX),
            as_str(field(obj, "enclave_public_key", w), "enclave_public_key", 130),
            as_int(field(obj, "enclave_key_epoch", w), "enclave_key_epoch"),
            as_bool(field(obj, "require_signing_approval", w), "require_signing_approval"),
            _key(field(obj, "auth_pubkey", w), "auth_pubkey"),
        )


@dataclass(frozen=True)
class RegisterResponse:
    keygen_session_id: str
    user_id: str
    status: str
    participants_registered: int
    expected_participants: int
    signer_index: int
    assigned_enclave_id: int
    require_signing_approval: bool

    def to_json(self) -> Json:
        return {
            "keygen_session_id": self.keygen_session_id,
            "user_id": self.user_id,
            "status": self.status,
            "participants_registered": self.participants_registered,
            "expected_participants": self.expected_participants,
            "signer_index": self.signer_index,
            "assigned_enclave_id": self.assigned_enclave_id,
            "require_signing_approval": self.require_signing_approval,
        }

    @classmethod
    def from_json(cls, value: Any) -> RegisterResponse:
        w = "register response"
        obj = as_object(value, w)
        return cls(
            as_uuid(field(obj, "keygen_session_id", w), w),
            as_uuid(field(obj, "user_id", w), w),
            as_str(field(obj, "status", w), w, 64),
            as_int(field(obj, "participants_registered", w), w),
            as_int(field(obj, "expected_participants", w), w),
            as_int(field(obj, "signer_index", w), w),
            _enclave(field(obj, "assigned_enclave_id", w), w),
            as_bool(field(obj, "require_signing_approval", w), w),
        )


# ---------------------------------------------------------------------------------------------
# K5 status


@dataclass(frozen=True)
class KeygenStatus:
    recipient_authorization: RecipientAuthorization
    authorization_manifest: SignedManifest
    encrypted_roster: str | None
    keygen_session_id: str
    status: str
    expected_participants: int
    registered_participants: int
    aggregate_public_key: str | None
    expires_at: int
    encrypted_subset_aggregates: Mapping[str, str]

    def to_json(self) -> Json:
        return {
            "recipient_authorization": self.recipient_authorization.to_json(),
            "authorization_manifest": self.authorization_manifest.to_json(),
            "encrypted_roster": self.encrypted_roster,
            "keygen_session_id": self.keygen_session_id,
            "status": self.status,
            "expected_participants": self.expected_participants,
            "registered_participants": self.registered_participants,
            "aggregate_public_key": self.aggregate_public_key,
            "expires_at": self.expires_at,
            "encrypted_subset_aggregates": btree(dict(self.encrypted_subset_aggregates)),
        }

    @classmethod
    def from_json(cls, value: Any) -> KeygenStatus:
        w = "keygen status"
        obj = as_object(value, w)
        roster = obj.get("encrypted_roster")
        aggregate = obj.get("aggregate_public_key")
        subsets = as_map(obj.get("encrypted_subset_aggregates") or {}, w, MAX_SUBSETS)
        return cls(
            RecipientAuthorization.from_json(field(obj, "recipient_authorization", w)),
            SignedManifest.from_json(field(obj, "authorization_manifest", w)),
            None if roster is None else as_str(roster, "encrypted_roster", 64 << 21),
            as_uuid(field(obj, "keygen_session_id", w), w),
            as_str(field(obj, "status", w), "status", 64),
            as_int(field(obj, "expected_participants", w), w),
            as_int(field(obj, "registered_participants", w), w),
            None if aggregate is None else as_str(aggregate, "aggregate_public_key", 1024),
            as_int(field(obj, "expires_at", w), w),
            {
                as_uuid(s, w): as_str(v, "encrypted_subset_aggregates", 1024)
                for s, v in subsets.items()
            },
        )


# ---------------------------------------------------------------------------------------------
# S1 create signing session


@dataclass(frozen=True)
class SigningAuthorization:
    timeout_secs: int
    signature: bytes

    def to_json(self) -> Json:
        return {"timeout_secs": self.timeout_secs, "signature": byte_list(self.signature)}


@dataclass(frozen=True)
class CreateSigningRequest:
    signing_authorization: SigningAuthorization
    signing_session_id: str
    keygen_session_id: str
    timeout_secs: int
    batch_items: tuple[BatchItem, ...]

    def to_json(self) -> Json:
        return {
            "signing_authorization": self.signing_authorization.to_json(),
            "signing_session_id": self.signing_session_id,
            "keygen_session_id": self.keygen_session_id,
            "timeout_secs": self.timeout_secs,
            "batch_items": [item.to_json() for item in self.batch_items],
        }

    @classmethod
    def from_json(cls, value: Any, max_items: int = MAX_ITEMS) -> CreateSigningRequest:
        w = "signing"
        obj = as_object(value, w)
        auth = as_object(field(obj, "signing_authorization", w), "signing_authorization")
        items = as_list(field(obj, "batch_items", w), "batch_items", max_items)
        return cls(
            SigningAuthorization(
                as_int(field(auth, "timeout_secs", "signing_authorization"), "timeout_secs"),
                as_bytes(field(auth, "signature", "signing_authorization"), "signature", 64),
            ),
            as_uuid(field(obj, "signing_session_id", w), "signing_session_id"),
            as_uuid(field(obj, "keygen_session_id", w), "keygen_session_id"),
            as_int(field(obj, "timeout_secs", w), "timeout_secs"),
            tuple(BatchItem.from_json(item, f"batch_items[{i}]") for i, item in enumerate(items)),
        )


@dataclass(frozen=True)
class CreateSigningResponse:
    signing_session_id: str
    keygen_session_id: str
    status: str
    participants_count: int
    expires_at: int

    def to_json(self) -> Json:
        return {
            "signing_session_id": self.signing_session_id,
            "keygen_session_id": self.keygen_session_id,
            "status": self.status,
            "participants_count": self.participants_count,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, value: Any) -> CreateSigningResponse:
        w = "signing response"
        obj = as_object(value, w)
        return cls(
            as_uuid(field(obj, "signing_session_id", w), w),
            as_uuid(field(obj, "keygen_session_id", w), w),
            as_str(field(obj, "status", w), w, 64),
            as_int(field(obj, "participants_count", w), w),
            as_int(field(obj, "expires_at", w), w),
        )


# ---------------------------------------------------------------------------------------------
# S3 signing status


@dataclass(frozen=True)
class BatchResult:
    batch_item_id: str
    signature: str | None
    adaptor_signatures: str | None
    error: str | None

    def to_json(self) -> Json:
        return {
            "batch_item_id": self.batch_item_id,
            "signature": self.signature,
            "adaptor_signatures": self.adaptor_signatures,
            "error": self.error,
        }


@dataclass(frozen=True)
class SigningStatus:
    batch_items: tuple[BatchItem, ...]
    signing_session_id: str
    keygen_session_id: str
    status: str
    participants_registered: int
    expected_participants: int
    expires_at: int
    participants_requiring_approval: tuple[str, ...]
    approved_participants: tuple[str, ...]
    batch_results: tuple[BatchResult, ...]

    def to_json(self) -> Json:
        return {
            "batch_items": [item.to_json() for item in self.batch_items],
            "signing_session_id": self.signing_session_id,
            "keygen_session_id": self.keygen_session_id,
            "status": self.status,
            "participants_registered": self.participants_registered,
            "expected_participants": self.expected_participants,
            "expires_at": self.expires_at,
            "participants_requiring_approval": list(self.participants_requiring_approval),
            "approved_participants": list(self.approved_participants),
            "batch_results": [result.to_json() for result in self.batch_results],
        }

    @classmethod
    def from_json(
        cls, value: Any, max_items: int = MAX_ITEMS, *, items_when_completed: bool = False
    ) -> SigningStatus:
        """Parse a status; with ``items_when_completed`` the (large) ``batch_items`` are read
        only once the session completed (a poll needs just the state before that)."""
        w = "signing status"
        obj = as_object(value, w)
        items = as_list(field(obj, "batch_items", w), "batch_items", max_items)
        if items_when_completed and obj.get("status") != "completed":
            items = []
        results = []
        for item in as_list(field(obj, "batch_results", w), "batch_results", max_items):
            result = as_object(item, "batch_results")
            signature = result.get("signature")
            adaptor = result.get("adaptor_signatures")
            error = result.get("error")
            results.append(
                BatchResult(
                    as_uuid(field(result, "batch_item_id", w), "batch_item_id"),
                    None if signature is None else as_str(signature, "signature", 1024),
                    None if adaptor is None else as_str(adaptor, "adaptor_signatures", 1 << 16),
                    None if error is None else as_str(error, "error", 4096),
                )
            )

        def users(name: str) -> tuple[str, ...]:
            return tuple(
                as_uuid(u, name) for u in as_list(obj.get(name) or [], name, MAX_PARTICIPANTS)
            )

        return cls(
            tuple(BatchItem.from_json(item, f"batch_items[{i}]") for i, item in enumerate(items)),
            as_uuid(field(obj, "signing_session_id", w), w),
            as_uuid(field(obj, "keygen_session_id", w), w),
            as_str(field(obj, "status", w), "status", 64),
            as_int(field(obj, "participants_registered", w), w),
            as_int(field(obj, "expected_participants", w), w),
            as_int(field(obj, "expires_at", w), w),
            users("participants_requiring_approval"),
            users("approved_participants"),
            tuple(results),
        )


# ---------------------------------------------------------------------------------------------
# E2 enclave key


@dataclass(frozen=True)
class EnclaveKey:
    enclave_id: int
    public_key: str
    attestation_document: str  # hex of the raw COSE_Sign1 bytes; "" when attestation is off
    pcr_measurements: Mapping[str, str]
    timestamp: int
    healthy: bool
    key_epoch: int

    def to_json(self) -> Json:
        return {
            "enclave_id": self.enclave_id,
            "public_key": self.public_key,
            "attestation_document": self.attestation_document,
            "pcr_measurements": btree(dict(self.pcr_measurements)),
            "timestamp": self.timestamp,
            "healthy": self.healthy,
            "key_epoch": self.key_epoch,
        }

    @classmethod
    def from_json(cls, value: Any) -> EnclaveKey:
        w = "enclave key"
        obj = as_object(value, w)
        pcrs = as_map(obj.get("pcr_measurements") or {}, "pcr_measurements", 32)
        document = as_str(field(obj, "attestation_document", w), w, 2 * MAX_DOCUMENT_BYTES)
        as_hex(document, "attestation_document", MAX_DOCUMENT_BYTES)
        return cls(
            _enclave(field(obj, "enclave_id", w), w),
            as_hex(field(obj, "public_key", w), "public_key", 33, 33).hex(),
            document.lower(),
            {as_str(k, "pcr", 16): as_str(v, "pcr", 256) for k, v in pcrs.items()},
            as_int(field(obj, "timestamp", w), w),
            as_bool(field(obj, "healthy", w), w),
            as_int(field(obj, "key_epoch", w), w),
        )

    @property
    def public_key_bytes(self) -> CompressedPubkey:
        """The key as a checked point (raises :class:`~crypto.KeymeldCryptoError` if not)."""
        return crypto.compressed_key(bytes.fromhex(self.public_key), "enclave public key")

    @property
    def document_bytes(self) -> bytes:
        return bytes.fromhex(self.attestation_document)


__all__ = [
    "BatchResult",
    "CreateSigningRequest",
    "CreateSigningResponse",
    "EnclaveKey",
    "InitializeRequest",
    "InitializeResponse",
    "KeygenStatus",
    "RegisterRequest",
    "RegisterResponse",
    "ReserveRequest",
    "ReserveResponse",
    "SigningAuthorization",
    "SigningStatus",
    "Slot",
    "SlotsResponse",
]
