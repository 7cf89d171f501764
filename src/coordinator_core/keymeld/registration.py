"""The player's side of a delegated keymeld registration (keymeld-0.10 §4.4, §6 step 3).

The coordinator hands the player a :class:`SlotOffer` (its slot's registration context and the
attested key of the enclave assigned to it); the player

1. verifies the attestation document against its own challenge and the enclave key,
2. fills its keys into the context: ``public_key = sk·G`` and
   ``auth_pubkey = HKDF(sk, ∅, "keymeld-session-auth-v1:" ‖ keygen_session_id)·G``,
3. signs the proof of possession with ``sk`` (domain ``registration-possession`` over the
   context's canonical JSON) and builds the ``RegistrationEnvelope`` JSON,
4. ECIES-encrypts the envelope to the enclave key,

and returns the ciphertext with its two public keys (:class:`SealedRegistration`). The
coordinator checks it, authorizes it with the slot credential and submits it. The byte layout
is documented in the README so a browser can do the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordinator_core.keymeld import crypto
from coordinator_core.keymeld.attestation import EnclaveTrust
from coordinator_core.keymeld.messages import RegistrationContext, RegistrationEnvelope
from coordinator_core.keymeld.wire import (
    Json,
    WireError,
    as_bool,
    as_bytes,
    as_hex,
    as_int,
    as_object,
    as_uuid,
    byte_list,
    canonical,
)
from coordinator_core.keymeld.wire import (
    field as required,
)
from ticketdlc.typed_bytes import CompressedPubkey, SecretKey

MAX_DOCUMENT_BYTES = 64 * 1024


@dataclass(frozen=True)
class SlotOffer:
    """What a player needs to seal its key for its slot."""

    keygen_session_id: str
    manifest_hash: bytes
    user_id: str
    enclave_id: int
    enclave_key_epoch: int
    require_signing_approval: bool
    enclave_public_key: CompressedPubkey
    attestation_document: bytes = field(repr=False)
    attestation_nonce: bytes

    def context_json(self) -> Json:
        """The ``RegistrationContext`` without the player's keys."""
        return {
            "keygen_session_id": self.keygen_session_id,
            "manifest_hash": byte_list(self.manifest_hash),
            "user_id": self.user_id,
            "enclave_id": self.enclave_id,
            "enclave_key_epoch": self.enclave_key_epoch,
            "require_signing_approval": self.require_signing_approval,
        }

    def to_json(self) -> Json:
        """The JSON a coordinator API serves (hex for the enclave key and the document)."""
        return {
            "context": self.context_json(),
            "enclave_id": self.enclave_id,
            "enclave_public_key": self.enclave_public_key.hex(),
            "enclave_key_epoch": self.enclave_key_epoch,
            "attestation_document": self.attestation_document.hex(),
            "attestation_nonce": self.attestation_nonce.hex(),
        }

    @classmethod
    def from_json(cls, value: Any) -> SlotOffer:
        obj = as_object(value, "slot")
        ctx = as_object(required(obj, "context", "slot"), "slot.context")
        w = "slot.context"
        offer = cls(
            keygen_session_id=as_uuid(required(ctx, "keygen_session_id", w), w),
            manifest_hash=as_bytes(required(ctx, "manifest_hash", w), f"{w}.manifest_hash", 32),
            user_id=as_uuid(required(ctx, "user_id", w), f"{w}.user_id"),
            enclave_id=as_int(required(ctx, "enclave_id", w), f"{w}.enclave_id", 0, (1 << 32) - 1),
            enclave_key_epoch=as_int(required(ctx, "enclave_key_epoch", w), f"{w}.epoch"),
            require_signing_approval=as_bool(
                required(ctx, "require_signing_approval", w), f"{w}.approval"
            ),
            enclave_public_key=CompressedPubkey(
                as_hex(required(obj, "enclave_public_key", "slot"), "enclave_public_key", 33, 33)
            ),
            attestation_document=as_hex(
                required(obj, "attestation_document", "slot"), "document", MAX_DOCUMENT_BYTES
            ),
            attestation_nonce=as_hex(required(obj, "attestation_nonce", "slot"), "nonce", 32, 32),
        )
        if as_int(required(obj, "enclave_id", "slot"), "slot.enclave_id") != offer.enclave_id or (
            as_int(required(obj, "enclave_key_epoch", "slot"), "slot.epoch")
            != offer.enclave_key_epoch
        ):
            raise WireError("slot: enclave id or epoch differs from the context's")
        if not crypto.is_point(offer.enclave_public_key):
            raise WireError("slot: the enclave key is not a secp256k1 point")
        return offer


@dataclass(frozen=True)
class SealedRegistration:
    """What the player sends back: the envelope ciphertext and its public keys."""

    user_id: str
    public_key: CompressedPubkey
    auth_pubkey: CompressedPubkey
    encrypted_envelope: bytes
    enclave_key_epoch: int

    def to_json(self) -> Json:
        return {
            "user_id": self.user_id,
            "public_key": self.public_key.hex(),
            "auth_pubkey": self.auth_pubkey.hex(),
            "encrypted_envelope": self.encrypted_envelope.hex(),
            "enclave_key_epoch": self.enclave_key_epoch,
        }

    @classmethod
    def from_json(cls, value: Any) -> SealedRegistration:
        obj = as_object(value, "registration")
        w = "registration"
        keys = []
        for name in ("public_key", "auth_pubkey"):
            key = as_hex(required(obj, name, w), name, 33, 33)
            if not crypto.is_point(key):
                raise WireError(f"registration: {name} is not a compressed secp256k1 key")
            keys.append(CompressedPubkey(key))
        return cls(
            as_uuid(required(obj, "user_id", w), "user_id"),
            keys[0],
            keys[1],
            as_hex(required(obj, "encrypted_envelope", w), "encrypted_envelope", 64 * 1024, 61),
            as_int(required(obj, "enclave_key_epoch", w), "enclave_key_epoch"),
        )


def registration_context(offer: SlotOffer, private_key: SecretKey) -> RegistrationContext:
    """The full context for ``private_key``: the offer plus the player's two public keys."""
    return RegistrationContext(
        keygen_session_id=offer.keygen_session_id,
        manifest_hash=offer.manifest_hash,
        user_id=offer.user_id,
        enclave_id=offer.enclave_id,
        enclave_key_epoch=offer.enclave_key_epoch,
        public_key=crypto.public_key(private_key),
        auth_pubkey=crypto.user_auth_pubkey(private_key, offer.keygen_session_id),
        require_signing_approval=offer.require_signing_approval,
    )


def seal_registration(
    offer: SlotOffer,
    private_key: bytes,
    trust: EnclaveTrust,
    *,
    now_ms: int | None = None,
    ephemeral_secret: SecretKey | None = None,
    nonce: bytes | None = None,
) -> SealedRegistration:
    """Verify the enclave, then seal ``private_key`` with its proof of possession to it.

    ``private_key`` is checked to be a valid secret key first. ``ephemeral_secret`` and
    ``nonce`` fix the ECIES randomness (test vectors only). Raises
    :class:`~coordinator_core.nitro.AttestationError` before anything is encrypted if the
    enclave does not verify.
    """
    secret = crypto.secret_key(private_key, "private key")
    trust.verify(
        offer.attestation_document, offer.enclave_public_key, offer.attestation_nonce, now_ms
    )
    context = registration_context(offer, secret)
    envelope = RegistrationEnvelope.build(context, secret)
    ciphertext = crypto.ecies_encrypt(
        offer.enclave_public_key,
        canonical(envelope.to_json()),
        ephemeral_secret=ephemeral_secret,
        nonce=nonce,
    )
    return SealedRegistration(
        offer.user_id, context.public_key, context.auth_pubkey, ciphertext, offer.enclave_key_epoch
    )
