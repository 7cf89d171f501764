"""keymeld 0.10's signed objects and batch types, with their exact serde JSON.

Each type has ``to_json()`` (fields in Rust declaration order, bytes as integer arrays, maps as
``BTreeMap``) and a strict ``from_json()``. Signatures are authorization digests
(:func:`~coordinator_core.keymeld.crypto.authorization_digest`) under the domains of
keymeld-0.10 §2.1; :meth:`payload` methods give the exact value each domain signs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Final

from coordinator_core.keymeld import crypto
from coordinator_core.keymeld.wire import (
    Json,
    WireError,
    as_bool,
    as_bytes,
    as_hex,
    as_int,
    as_list,
    as_map,
    as_object,
    as_optional_uuid,
    as_str,
    as_uuid,
    btree,
    btree_int,
    byte_list,
)
from coordinator_core.keymeld.wire import (
    field as required,
)
from ticketdlc.bitcoin.taproot import tap_tweak
from ticketdlc.crypto import musig2
from ticketdlc.crypto.secp import Point
from ticketdlc.typed_bytes import CompressedPubkey, SecretKey

MAX_PARTICIPANTS: Final = 100_000
MAX_SUBSETS: Final = 100_000
MAX_ITEMS: Final = 100_000
MAX_CIPHERTEXT_HEX: Final = 1 << 20


class Domain:
    """Authorization-digest domains (keymeld-0.10 §2.1)."""

    SESSION_MANIFEST: Final = "session-manifest"
    SIGNED_SESSION_MANIFEST: Final = "signed-session-manifest"
    ENCLAVE_RECIPIENTS: Final = "enclave-recipients"
    INITIALIZE_SESSION: Final = "initialize-session"
    REGISTRATION_POSSESSION: Final = "registration-possession"
    PARTICIPANT_REGISTRATION: Final = "participant-registration"
    SIGNING_BATCH: Final = "signing-batch"
    PARTICIPANT_BATCH_APPROVAL: Final = "participant-batch-approval"
    PARTICIPANT_ROSTER: Final = "participant-roster"


def _key(value: Any, what: str) -> CompressedPubkey:
    data = as_bytes(value, what, 33)
    if not crypto.is_point(data):
        raise WireError(f"{what}: not a compressed secp256k1 point")
    return CompressedPubkey(data)


def _sig(value: Any, what: str) -> bytes:
    return as_bytes(value, what, 64)


# ---------------------------------------------------------------------------------------------
# Taproot tweaks and subsets


@dataclass(frozen=True)
class TaprootTweak:
    """``TaprootTweak``: how the aggregate key is tweaked (keymeld §4.3)."""

    kind: str = "none"
    value: bytes | None = None  # merkle root or tweak for the kinds that carry one

    KINDS: ClassVar[dict[str, str | None]] = {
        "none": None,
        "unspendable_taproot": None,
        "taproot_with_merkle_root": "merkle_root",
        "plain_tweak": "tweak",
        "x_only_tweak": "tweak",
    }

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown taproot tweak {self.kind!r}")
        if (self.KINDS[self.kind] is None) != (self.value is None):
            raise ValueError(f"taproot tweak {self.kind} carries the wrong fields")
        if self.value is not None and len(self.value) != 32:
            raise ValueError("a taproot tweak value is 32 bytes")

    def to_json(self) -> Json:
        name = self.KINDS[self.kind]
        out: dict[str, Json] = {"type": self.kind}
        if name is not None and self.value is not None:
            out[name] = byte_list(self.value)
        return out

    @classmethod
    def from_json(cls, value: Any, what: str = "taproot_tweak") -> TaprootTweak:
        obj = as_object(value, what)
        kind = as_str(required(obj, "type", what), f"{what}.type", 64)
        if kind not in cls.KINDS:
            raise WireError(f"{what}: unknown variant {kind!r}")
        name = cls.KINDS[kind]
        data = None if name is None else as_bytes(required(obj, name, what), f"{what}.{name}", 32)
        return cls(kind, data)

    def musig_tweaks(self, untweaked: Point) -> tuple[tuple[bytes, ...], tuple[bool, ...]]:
        """The BIP-327 tweak list this tweak applies to an aggregate key."""
        if self.kind == "none":
            return (), ()
        if self.kind in ("unspendable_taproot", "taproot_with_merkle_root"):
            t = tap_tweak(untweaked.xonly(), self.value)
            return (t.to_bytes(32, "big"),), (True,)
        assert self.value is not None
        return (self.value,), (self.kind == "x_only_tweak",)

    def aggregate(self, sorted_pubkeys: Sequence[bytes]) -> musig2.KeyGenContext:
        """KeyAgg of ``sorted_pubkeys`` followed by this tweak."""
        untweaked = musig2.key_agg(sorted_pubkeys).Q
        tweaks, is_xonly = self.musig_tweaks(untweaked)
        return musig2.key_agg_and_tweak(sorted_pubkeys, tweaks, is_xonly)


NO_TWEAK: Final = TaprootTweak()


@dataclass(frozen=True)
class SubsetDefinition:
    """A named signer subset declared at keygen."""

    subset_id: str
    participants: tuple[str, ...]

    def to_json(self) -> Json:
        return {"subset_id": self.subset_id, "participants": list(self.participants)}

    @classmethod
    def from_json(cls, value: Any, what: str, max_members: int) -> SubsetDefinition:
        obj = as_object(value, what)
        members = as_list(required(obj, "participants", what), f"{what}.participants", max_members)
        return cls(
            as_uuid(required(obj, "subset_id", what), f"{what}.subset_id"),
            tuple(as_uuid(m, f"{what}.participants") for m in members),
        )


def subsets_json(subsets: Sequence[SubsetDefinition]) -> Json:
    return [subset.to_json() for subset in subsets]


def subsets_from_json(value: Any, what: str, max_subsets: int) -> tuple[SubsetDefinition, ...]:
    items = as_list(value, what, max_subsets)
    return tuple(
        SubsetDefinition.from_json(item, f"{what}[{i}]", MAX_PARTICIPANTS)
        for i, item in enumerate(items)
    )


# ---------------------------------------------------------------------------------------------
# Manifest


class ManifestError(ValueError):
    """A signed manifest breaks one of the validity rules (keymeld-0.10 §2.2)."""


@dataclass(frozen=True)
class SessionManifest:
    """``SessionAuthorizationManifest``: who may do what in one keygen session."""

    keygen_session_id: str
    coordinator_user_id: str
    creator_pubkey: CompressedPubkey
    signing_pubkey: CompressedPubkey
    session_public_key: CompressedPubkey
    participant_verifiers: Mapping[str, CompressedPubkey]  # user id -> slot credential pubkey
    timeout_secs: int
    max_signing_sessions: int | None
    encrypted_taproot_tweak: str
    subset_definitions: tuple[SubsetDefinition, ...]

    def to_json(self) -> Json:
        return {
            "keygen_session_id": self.keygen_session_id,
            "coordinator_user_id": self.coordinator_user_id,
            "creator_pubkey": byte_list(self.creator_pubkey),
            "signing_pubkey": byte_list(self.signing_pubkey),
            "session_public_key": byte_list(self.session_public_key),
            "participant_verifiers": btree(
                {uid: byte_list(pk) for uid, pk in self.participant_verifiers.items()}
            ),
            "timeout_secs": self.timeout_secs,
            "max_signing_sessions": self.max_signing_sessions,
            "encrypted_taproot_tweak": self.encrypted_taproot_tweak,
            "subset_definitions": subsets_json(self.subset_definitions),
        }

    @classmethod
    def from_json(cls, value: Any, what: str = "manifest") -> SessionManifest:
        obj = as_object(value, what)
        if obj.get("deposit_scope") is not None:
            raise WireError(f"{what}: deposit-scoped sessions are not supported")
        verifiers = as_map(
            required(obj, "participant_verifiers", what), f"{what}.verifiers", MAX_PARTICIPANTS
        )
        max_sessions = required(obj, "max_signing_sessions", what)
        return cls(
            keygen_session_id=as_uuid(required(obj, "keygen_session_id", what), what),
            coordinator_user_id=as_uuid(required(obj, "coordinator_user_id", what), what),
            creator_pubkey=_key(required(obj, "creator_pubkey", what), f"{what}.creator_pubkey"),
            signing_pubkey=_key(required(obj, "signing_pubkey", what), f"{what}.signing_pubkey"),
            session_public_key=_key(
                required(obj, "session_public_key", what), f"{what}.session_public_key"
            ),
            participant_verifiers={
                as_uuid(uid, f"{what}.verifiers"): _key(pk, f"{what}.verifiers.{uid}")
                for uid, pk in verifiers.items()
            },
            timeout_secs=as_int(required(obj, "timeout_secs", what), f"{what}.timeout_secs"),
            max_signing_sessions=None
            if max_sessions is None
            else as_int(max_sessions, f"{what}.max_signing_sessions", 0, (1 << 32) - 1),
            encrypted_taproot_tweak=as_str(
                required(obj, "encrypted_taproot_tweak", what), f"{what}.tweak", 4096
            ),
            subset_definitions=subsets_from_json(
                required(obj, "subset_definitions", what), f"{what}.subsets", MAX_SUBSETS
            ),
        )


@dataclass(frozen=True)
class SignedManifest:
    """``SignedSessionManifest``: the manifest and the creator's signature."""

    manifest: SessionManifest
    signature: bytes

    @classmethod
    def sign(cls, manifest: SessionManifest, creator_secret: SecretKey) -> SignedManifest:
        return cls(
            manifest, crypto.authorize(creator_secret, Domain.SESSION_MANIFEST, manifest.to_json())
        )

    def to_json(self) -> Json:
        return self._json

    @cached_property
    def _json(self) -> Json:  # immutable value: serialized once (manifests hold every subset)
        return {"manifest": self.manifest.to_json(), "signature": byte_list(self.signature)}

    @classmethod
    def from_json(cls, value: Any, what: str = "authorization_manifest") -> SignedManifest:
        obj = as_object(value, what)
        return cls(
            SessionManifest.from_json(required(obj, "manifest", what), f"{what}.manifest"),
            _sig(required(obj, "signature", what), f"{what}.signature"),
        )

    @cached_property
    def manifest_hash(self) -> bytes:
        """The session's identity in every later proof."""
        return crypto.authorization_digest(Domain.SIGNED_SESSION_MANIFEST, self.to_json())

    def validate(self) -> None:
        """Check every validity rule of a signed manifest; raises :class:`ManifestError`."""
        m = self.manifest
        if not m.participant_verifiers:
            raise ManifestError("the manifest has no participant verifiers")
        if m.coordinator_user_id not in m.participant_verifiers:
            raise ManifestError("the coordinator user has no participant verifier")
        if m.creator_pubkey == m.session_public_key or m.signing_pubkey == m.session_public_key:
            raise ManifestError("the creator and signing keys must differ from the session key")
        verifiers = list(m.participant_verifiers.values())
        authority = {m.creator_pubkey, m.signing_pubkey, m.session_public_key}
        if len(set(verifiers)) != len(verifiers) or authority & set(verifiers):
            raise ManifestError("slot verifiers must be distinct from each other and the authority")
        for subset in m.subset_definitions:
            members = subset.participants
            if not members or len(set(members)) != len(members):
                raise ManifestError(f"subset {subset.subset_id} is empty or repeats a member")
            if any(member not in m.participant_verifiers for member in members):
                raise ManifestError(f"subset {subset.subset_id} names a non-participant")
        if not crypto.is_authorized(
            m.creator_pubkey, Domain.SESSION_MANIFEST, m.to_json(), self.signature
        ):
            raise ManifestError("the manifest signature does not verify under the creator key")


# ---------------------------------------------------------------------------------------------
# Enclave recipients and initialize


@dataclass(frozen=True)
class RecipientAuthorization:
    """``EnclaveRecipientAuthorization``: the attested enclave keys the creator accepted."""

    keygen_session_id: str
    manifest_hash: bytes
    user_enclave_assignments: Mapping[str, int]
    recipient_public_keys: Mapping[int, CompressedPubkey]
    signature: bytes

    def payload(self) -> Json:
        return [
            self.keygen_session_id,
            byte_list(self.manifest_hash),
            btree(dict(self.user_enclave_assignments)),
            btree_int({k: byte_list(v) for k, v in self.recipient_public_keys.items()}),
        ]

    @classmethod
    def sign(
        cls,
        creator_secret: SecretKey,
        keygen_session_id: str,
        manifest_hash: bytes,
        assignments: Mapping[str, int],
        recipients: Mapping[int, CompressedPubkey],
    ) -> RecipientAuthorization:
        unsigned = cls(keygen_session_id, manifest_hash, assignments, recipients, b"")
        signature = crypto.authorize(creator_secret, Domain.ENCLAVE_RECIPIENTS, unsigned.payload())
        return cls(keygen_session_id, manifest_hash, assignments, recipients, signature)

    def to_json(self) -> Json:
        return {
            "keygen_session_id": self.keygen_session_id,
            "manifest_hash": byte_list(self.manifest_hash),
            "user_enclave_assignments": btree(dict(self.user_enclave_assignments)),
            "recipient_public_keys": btree_int(
                {k: byte_list(v) for k, v in self.recipient_public_keys.items()}
            ),
            "signature": byte_list(self.signature),
        }

    @classmethod
    def from_json(cls, value: Any, what: str = "recipient_authorization") -> RecipientAuthorization:
        obj = as_object(value, what)
        assignments = as_map(
            required(obj, "user_enclave_assignments", what), f"{what}.assignments", MAX_PARTICIPANTS
        )
        recipients = as_map(
            required(obj, "recipient_public_keys", what), f"{what}.recipients", 1024
        )
        keys: dict[int, CompressedPubkey] = {}
        for enclave, pk in recipients.items():
            if not enclave.isdigit() or len(enclave) > 10:
                raise WireError(f"{what}.recipients: enclave id {enclave!r} is not a number")
            keys[int(enclave)] = _key(pk, f"{what}.recipients.{enclave}")
        return cls(
            as_uuid(required(obj, "keygen_session_id", what), what),
            as_bytes(required(obj, "manifest_hash", what), f"{what}.manifest_hash", 32),
            {
                as_uuid(uid, f"{what}.assignments"): as_int(e, f"{what}.assignments", 0, 1 << 32)
                for uid, e in assignments.items()
            },
            keys,
            _sig(required(obj, "signature", what), f"{what}.signature"),
        )

    def validate(self, manifest: SignedManifest) -> None:
        """Check it against its manifest; raises :class:`ManifestError`."""
        m = manifest.manifest
        if self.keygen_session_id != m.keygen_session_id:
            raise ManifestError("recipient authorization names another session")
        if self.manifest_hash != manifest.manifest_hash:
            raise ManifestError("recipient authorization names another manifest")
        if set(self.user_enclave_assignments) != set(m.participant_verifiers):
            raise ManifestError("recipient assignments differ from the manifest's participants")
        if set(self.recipient_public_keys) != set(self.user_enclave_assignments.values()):
            raise ManifestError("recipient keys differ from the assigned enclaves")
        keys = list(self.recipient_public_keys.values())
        if not keys or len(set(keys)) != len(keys):
            raise ManifestError("recipient keys must be distinct and non-empty")
        if not crypto.is_authorized(
            m.creator_pubkey, Domain.ENCLAVE_RECIPIENTS, self.payload(), self.signature
        ):
            raise ManifestError("recipient authorization signature does not verify")


def initialize_payload(
    session_id: str,
    coordinator_pubkey: bytes,
    session_public_key: bytes,
    encrypted_session_secret: str,
    encrypted_session_data: str,
    enclave_key_epoch: int,
    recipient_authorization: RecipientAuthorization,
) -> Json:
    """What the creator signs at K2 (domain ``initialize-session``)."""
    return [
        session_id,
        byte_list(coordinator_pubkey),
        byte_list(session_public_key),
        encrypted_session_secret,
        encrypted_session_data,
        enclave_key_epoch,
        recipient_authorization.to_json(),
    ]


# ---------------------------------------------------------------------------------------------
# Registration


@dataclass(frozen=True)
class RegistrationContext:
    """What a participant's registration is bound to (keymeld-0.10 §2.2)."""

    keygen_session_id: str
    manifest_hash: bytes
    user_id: str
    enclave_id: int
    enclave_key_epoch: int
    public_key: CompressedPubkey
    auth_pubkey: CompressedPubkey
    require_signing_approval: bool

    def to_json(self) -> Json:
        return {
            "keygen_session_id": self.keygen_session_id,
            "manifest_hash": byte_list(self.manifest_hash),
            "user_id": self.user_id,
            "enclave_id": self.enclave_id,
            "enclave_key_epoch": self.enclave_key_epoch,
            "public_key": byte_list(self.public_key),
            "auth_pubkey": byte_list(self.auth_pubkey),
            "require_signing_approval": self.require_signing_approval,
        }

    @classmethod
    def from_json(cls, value: Any, what: str = "context") -> RegistrationContext:
        obj = as_object(value, what)
        return cls(
            as_uuid(required(obj, "keygen_session_id", what), f"{what}.keygen_session_id"),
            as_bytes(required(obj, "manifest_hash", what), f"{what}.manifest_hash", 32),
            as_uuid(required(obj, "user_id", what), f"{what}.user_id"),
            as_int(required(obj, "enclave_id", what), f"{what}.enclave_id", 0, (1 << 32) - 1),
            as_int(required(obj, "enclave_key_epoch", what), f"{what}.enclave_key_epoch"),
            _key(required(obj, "public_key", what), f"{what}.public_key"),
            _key(required(obj, "auth_pubkey", what), f"{what}.auth_pubkey"),
            as_bool(required(obj, "require_signing_approval", what), f"{what}.approval"),
        )


@dataclass(frozen=True)
class RegistrationEnvelope:
    """The ECIES plaintext a participant seals to its enclave: its key and possession proof."""

    context: RegistrationContext
    private_key: SecretKey = field(repr=False)
    proof_signature: bytes

    @classmethod
    def build(cls, context: RegistrationContext, private_key: SecretKey) -> RegistrationEnvelope:
        proof = crypto.authorize(private_key, Domain.REGISTRATION_POSSESSION, context.to_json())
        return cls(context, private_key, proof)

    def to_json(self) -> Json:
        return {
            "context": self.context.to_json(),
            "private_key": byte_list(self.private_key),
            "proof_signature": byte_list(self.proof_signature),
        }

    @classmethod
    def from_json(cls, value: Any, what: str = "envelope") -> RegistrationEnvelope:
        obj = as_object(value, what)
        if obj.get("escrow") is not None or obj.get("deposit", False) is not False:
            raise WireError(f"{what}: escrow and deposit registrations are not supported")
        return cls(
            RegistrationContext.from_json(required(obj, "context", what), f"{what}.context"),
            SecretKey(as_bytes(required(obj, "private_key", what), f"{what}.private_key", 32)),
            _sig(required(obj, "proof_signature", what), f"{what}.proof_signature"),
        )

    def check(self) -> None:
        """The enclave's checks: key matches, auth key derivation, possession proof."""
        ctx = self.context
        try:
            derived = crypto.public_key(self.private_key)
        except ValueError:
            raise crypto.KeymeldCryptoError("the sealed private key is not a valid key") from None
        if derived != ctx.public_key:
            raise crypto.KeymeldCryptoError("the sealed key does not match the context public key")
        if crypto.user_auth_pubkey(self.private_key, ctx.keygen_session_id) != ctx.auth_pubkey:
            raise crypto.KeymeldCryptoError("auth_pubkey is not derived from the sealed key")
        if not crypto.is_authorized(
            ctx.public_key, Domain.REGISTRATION_POSSESSION, ctx.to_json(), self.proof_signature
        ):
            raise crypto.KeymeldCryptoError("the proof of possession does not verify")


@dataclass(frozen=True)
class RegistrationAuthorization:
    """The slot credential's authorization of one sealed registration."""

    context: RegistrationContext
    ciphertext_hash: bytes
    signature: bytes

    @staticmethod
    def payload_of(context: RegistrationContext, ciphertext_hash: bytes) -> Json:
        return [context.to_json(), byte_list(ciphertext_hash)]

    @classmethod
    def sign(
        cls, slot_secret: SecretKey, context: RegistrationContext, ciphertext_hash: bytes
    ) -> RegistrationAuthorization:
        signature = crypto.authorize(
            slot_secret, Domain.PARTICIPANT_REGISTRATION, cls.payload_of(context, ciphertext_hash)
        )
        return cls(context, ciphertext_hash, signature)

    def is_valid(self, verifier: CompressedPubkey) -> bool:
        return crypto.is_authorized(
            verifier,
            Domain.PARTICIPANT_REGISTRATION,
            self.payload_of(self.context, self.ciphertext_hash),
            self.signature,
        )

    def to_json(self) -> Json:
        return {
            "context": self.context.to_json(),
            "ciphertext_hash": byte_list(self.ciphertext_hash),
            "signature": byte_list(self.signature),
        }

    @classmethod
    def from_json(
        cls, value: Any, what: str = "registration_authorization"
    ) -> RegistrationAuthorization:
        obj = as_object(value, what)
        return cls(
            RegistrationContext.from_json(required(obj, "context", what), f"{what}.context"),
            as_bytes(required(obj, "ciphertext_hash", what), f"{what}.ciphertext_hash", 32),
            _sig(required(obj, "signature", what), f"{what}.signature"),
        )


# ---------------------------------------------------------------------------------------------
# Signing batches


@dataclass(frozen=True)
class AdaptorConfig:
    """One adaptor signature requested on an item (only ``Single`` is accepted at 0.10)."""

    adaptor_id: str
    adaptor_point: CompressedPubkey
    adaptor_type: str = "Single"

    def to_json(self) -> Json:
        return {
            "adaptor_id": self.adaptor_id,
            "adaptor_type": self.adaptor_type,
            "adaptor_points": [self.adaptor_point.hex()],
            "hints": None,
        }

    @classmethod
    def from_json(cls, value: Any, what: str = "adaptor_config") -> AdaptorConfig:
        obj = as_object(value, what)
        kind = as_str(required(obj, "adaptor_type", what), f"{what}.adaptor_type", 16)
        if kind != "Single":
            raise WireError(f"{what}: adaptor type {kind!r} is refused (only Single)")
        points = as_list(required(obj, "adaptor_points", what), f"{what}.adaptor_points", 1)
        if len(points) != 1:
            raise WireError(f"{what}: a Single adaptor has exactly one point")
        point = as_hex(points[0], f"{what}.adaptor_points", 33, 33)
        if not crypto.is_point(point):
            raise WireError(f"{what}: invalid adaptor point")
        adaptor_id = as_uuid(required(obj, "adaptor_id", what), f"{what}.adaptor_id")
        return cls(adaptor_id, CompressedPubkey(point), kind)


@dataclass(frozen=True)
class BatchItem:
    """``SigningBatchItem`` as sent in ``POST /signing`` (keymeld §2.5)."""

    batch_item_id: str
    message_hash: bytes
    encrypted_message: str
    encrypted_adaptor_configs: str | None  # adaptor mode when set
    encrypted_taproot_tweak: str
    subset_id: str | None

    def to_json(self) -> Json:
        return self._json

    @cached_property
    def _json(self) -> Json:
        mode: dict[str, Json]
        if self.encrypted_adaptor_configs is None:
            mode = {"type": "regular", "encrypted_message": self.encrypted_message}
        else:
            mode = {
                "type": "adaptor",
                "encrypted_message": self.encrypted_message,
                "encrypted_adaptor_configs": self.encrypted_adaptor_configs,
            }
        return {
            "batch_item_id": self.batch_item_id,
            "message_hash": byte_list(self.message_hash),
            "signing_mode": mode,
            "encrypted_taproot_tweak": self.encrypted_taproot_tweak,
            "subset_id": self.subset_id,
        }

    def enclave_item(self) -> Json:
        """The ``EnclaveBatchItem`` projection that authorizations sign."""
        return self._enclave_item

    @cached_property
    def _enclave_item(self) -> Json:
        return {
            "batch_item_id": self.batch_item_id,
            "encrypted_message": self.encrypted_message,
            "encrypted_adaptor_configs": self.encrypted_adaptor_configs,
            "encrypted_taproot_tweak": self.encrypted_taproot_tweak,
            "subset_id": self.subset_id,
        }

    @classmethod
    def from_json(cls, value: Any, what: str = "batch_item") -> BatchItem:
        obj = as_object(value, what)
        mode = as_object(required(obj, "signing_mode", what), f"{what}.signing_mode")
        kind = as_str(required(mode, "type", f"{what}.signing_mode"), f"{what}.type", 16)
        if kind not in ("regular", "adaptor"):
            raise WireError(f"{what}.signing_mode: unknown variant {kind!r}")
        configs = None
        if kind == "adaptor":
            configs = as_str(
                required(mode, "encrypted_adaptor_configs", f"{what}.signing_mode"),
                f"{what}.encrypted_adaptor_configs",
                MAX_CIPHERTEXT_HEX,
            )
        return cls(
            as_uuid(required(obj, "batch_item_id", what), f"{what}.batch_item_id"),
            as_bytes(required(obj, "message_hash", what), f"{what}.message_hash", max_size=64),
            as_str(
                required(mode, "encrypted_message", f"{what}.signing_mode"),
                f"{what}.encrypted_message",
                MAX_CIPHERTEXT_HEX,
            ),
            configs,
            as_str(
                required(obj, "encrypted_taproot_tweak", what),
                f"{what}.encrypted_taproot_tweak",
                MAX_CIPHERTEXT_HEX,
            ),
            as_optional_uuid(obj.get("subset_id"), f"{what}.subset_id"),
        )


def signing_batch_payload(
    keygen_session_id: str, signing_session_id: str, timeout_secs: int, items: Sequence[BatchItem]
) -> Json:
    """What the signing authority signs (domain ``signing-batch``)."""
    return [
        keygen_session_id,
        signing_session_id,
        timeout_secs,
        [item.enclave_item() for item in items],
    ]


def approval_payload(
    user_id: str,
    keygen_session_id: str,
    signing_session_id: str,
    timestamp: int,
    items: Sequence[BatchItem],
) -> Json:
    """What a participant signs to approve a batch (domain ``participant-batch-approval``)."""
    return [
        user_id,
        keygen_session_id,
        signing_session_id,
        timestamp,
        [item.enclave_item() for item in items],
    ]


@dataclass(frozen=True)
class ParticipantApproval:
    """A participant's approval of one exact batch (``POST /signing/{id}/approve/{user}``)."""

    user_id: str
    timestamp: int
    signature: bytes

    @classmethod
    def sign(
        cls,
        auth_secret: SecretKey,
        user_id: str,
        keygen_session_id: str,
        signing_session_id: str,
        timestamp: int,
        items: Sequence[BatchItem],
    ) -> ParticipantApproval:
        payload = approval_payload(user_id, keygen_session_id, signing_session_id, timestamp, items)
        signature = crypto.authorize(auth_secret, Domain.PARTICIPANT_BATCH_APPROVAL, payload)
        return cls(user_id, timestamp, signature)

    def is_valid(
        self,
        auth_pubkey: CompressedPubkey,
        keygen_session_id: str,
        signing_session_id: str,
        items: Sequence[BatchItem],
    ) -> bool:
        payload = approval_payload(
            self.user_id, keygen_session_id, signing_session_id, self.timestamp, items
        )
        return crypto.is_authorized(
            auth_pubkey, Domain.PARTICIPANT_BATCH_APPROVAL, payload, self.signature
        )

    def to_json(self) -> Json:
        return {
            "user_id": self.user_id,
            "timestamp": self.timestamp,
            "signature": byte_list(self.signature),
        }

    @classmethod
    def from_json(cls, value: Any, what: str = "approval") -> ParticipantApproval:
        obj = as_object(value, what)
        return cls(
            as_uuid(required(obj, "user_id", what), f"{what}.user_id"),
            as_int(required(obj, "timestamp", what), f"{what}.timestamp"),
            _sig(required(obj, "signature", what), f"{what}.signature"),
        )


@dataclass(frozen=True)
class AdaptorSignatureResult:
    """One adaptor signature of a completed item."""

    adaptor_id: str
    signature: bytes  # 65 bytes: R (33, un-adapted aggregate nonce point) || s'
    aggregate_nonce: bytes  # 66 bytes: R1 || R2
    adaptor_point: bytes

    def to_json(self) -> Json:
        return {
            "adaptor_id": self.adaptor_id,
            "adaptor_type": "Single",
            "signature_scalar": byte_list(self.signature),
            "nonce_point": byte_list(self.aggregate_nonce),
            "adaptor_points": [byte_list(self.adaptor_point)],
            "hints": None,
            "aggregate_adaptor_point": byte_list(self.adaptor_point),
        }

    @classmethod
    def from_json(cls, value: Any, what: str = "adaptor_signature") -> AdaptorSignatureResult:
        obj = as_object(value, what)
        return cls(
            as_uuid(required(obj, "adaptor_id", what), f"{what}.adaptor_id"),
            as_bytes(required(obj, "signature_scalar", what), f"{what}.signature_scalar", 65),
            as_bytes(required(obj, "nonce_point", what), f"{what}.nonce_point", 66),
            as_bytes(required(obj, "aggregate_adaptor_point", what), f"{what}.aggregate_point", 33),
        )


# ---------------------------------------------------------------------------------------------
# Roster


@dataclass(frozen=True)
class ParticipantRoster:
    """What the coordinator enclave attests at keygen completion."""

    keygen_session_id: str
    manifest_hash: bytes
    participants: Mapping[str, CompressedPubkey]
    registrations: Mapping[str, RegistrationAuthorization]
    aggregate_public_key: CompressedPubkey
    subset_aggregate_keys: Mapping[str, CompressedPubkey]
    subset_definitions: tuple[SubsetDefinition, ...]
    taproot_tweak: TaprootTweak

    def to_json(self) -> Json:
        return {
            "keygen_session_id": self.keygen_session_id,
            "manifest_hash": byte_list(self.manifest_hash),
            "participants": btree({u: byte_list(pk) for u, pk in self.participants.items()}),
            "registrations": btree({u: r.to_json() for u, r in self.registrations.items()}),
            "aggregate_public_key": byte_list(self.aggregate_public_key),
            "subset_aggregate_keys": btree(
                {s: byte_list(pk) for s, pk in self.subset_aggregate_keys.items()}
            ),
            "subset_definitions": subsets_json(self.subset_definitions),
            "taproot_tweak": self.taproot_tweak.to_json(),
        }

    @classmethod
    def from_json(cls, value: Any, what: str = "roster") -> ParticipantRoster:
        obj = as_object(value, what)
        participants = as_map(
            required(obj, "participants", what), f"{what}.participants", MAX_PARTICIPANTS
        )
        registrations = as_map(
            required(obj, "registrations", what), f"{what}.registrations", MAX_PARTICIPANTS
        )
        subset_keys = as_map(
            required(obj, "subset_aggregate_keys", what), f"{what}.subset_keys", MAX_SUBSETS
        )
        return cls(
            as_uuid(required(obj, "keygen_session_id", what), what),
            as_bytes(required(obj, "manifest_hash", what), f"{what}.manifest_hash", 32),
            {as_uuid(u, what): _key(pk, f"{what}.participants") for u, pk in participants.items()},
            {
                as_uuid(u, what): RegistrationAuthorization.from_json(r, f"{what}.registrations")
                for u, r in registrations.items()
            },
            _key(required(obj, "aggregate_public_key", what), f"{what}.aggregate_public_key"),
            {as_uuid(s, what): _key(pk, f"{what}.subset_keys") for s, pk in subset_keys.items()},
            subsets_from_json(
                required(obj, "subset_definitions", what), f"{what}.subsets", MAX_SUBSETS
            ),
            TaprootTweak.from_json(required(obj, "taproot_tweak", what), f"{what}.taproot_tweak"),
        )


@dataclass(frozen=True)
class SignedRoster:
    """``SignedRoster``: the roster signed by the coordinator enclave's key."""

    roster: ParticipantRoster
    signature: bytes
    enclave_public_key: CompressedPubkey

    @classmethod
    def sign(cls, roster: ParticipantRoster, enclave_secret: SecretKey) -> SignedRoster:
        signature = crypto.authorize(enclave_secret, Domain.PARTICIPANT_ROSTER, roster.to_json())
        return cls(roster, signature, crypto.public_key(enclave_secret))

    def signature_valid(self) -> bool:
        return crypto.is_authorized(
            self.enclave_public_key,
            Domain.PARTICIPANT_ROSTER,
            self.roster.to_json(),
            self.signature,
        )

    def to_json(self) -> Json:
        return {
            "roster": self.roster.to_json(),
            "signature": byte_list(self.signature),
            "enclave_public_key": byte_list(self.enclave_public_key),
        }

    @classmethod
    def from_json(cls, value: Any, what: str = "signed_roster") -> SignedRoster:
        obj = as_object(value, what)
        return cls(
            ParticipantRoster.from_json(required(obj, "roster", what), f"{what}.roster"),
            _sig(required(obj, "signature", what), f"{what}.signature"),
            _key(required(obj, "enclave_public_key", what), f"{what}.enclave_public_key"),
        )
