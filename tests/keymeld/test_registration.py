"""The player's side of a registration, byte for byte as the README documents it."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from coincurve import PrivateKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from coordinator_core.keymeld import crypto
from coordinator_core.keymeld.attestation import EnclaveTrust
from coordinator_core.keymeld.messages import RegistrationEnvelope
from coordinator_core.keymeld.registration import SlotOffer, seal_registration
from coordinator_core.keymeld.wire import loads
from coordinator_core.nitro import AttestationError, AttestationTrust, PcrPolicy
from devnet.signer.attestation import DEVNET_PCR0, AttestationIssuer

ENCLAVE_SECRET = bytes.fromhex("0e" * 32)
PLAYER_SECRET = bytes.fromhex("42" * 32)


@pytest.fixture(scope="module")
def issuer() -> AttestationIssuer:
    return AttestationIssuer.create()


def offer(
    issuer: AttestationIssuer, nonce: bytes, document_nonce: bytes | None = None
) -> SlotOffer:
    enclave_key = crypto.public_key(ENCLAVE_SECRET)
    document = issuer.issue(
        public_key=enclave_key, nonce=nonce if document_nonce is None else document_nonce
    )
    return SlotOffer(
        keygen_session_id="0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        manifest_hash=bytes(range(32)),
        user_id="0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d",
        enclave_id=1,
        enclave_key_epoch=3,
        require_signing_approval=False,
        enclave_public_key=enclave_key,
        attestation_document=document,
        attestation_nonce=nonce,
    )


def trust_of(issuer: AttestationIssuer) -> EnclaveTrust:
    return EnclaveTrust(AttestationTrust(PcrPolicy({0: DEVNET_PCR0}), issuer.trust_root))


def hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, None, info).derive(ikm)


def test_sealed_envelope_matches_the_documented_layout(issuer: AttestationIssuer) -> None:
    nonce = os.urandom(32)
    slot = SlotOffer.from_json(json.loads(json.dumps(offer(issuer, nonce).to_json())))
    ephemeral, aes_nonce = bytes.fromhex("05" * 32), bytes.fromhex("0c" * 12)
    sealed = seal_registration(
        slot, PLAYER_SECRET, trust_of(issuer), ephemeral_secret=ephemeral, nonce=aes_nonce
    )

    # Step 2: the two public keys.
    public_key = PrivateKey(PLAYER_SECRET).public_key.format()
    info = b"keymeld-session-auth-v1:" + slot.keygen_session_id.encode()
    auth_pubkey = PrivateKey(hkdf(PLAYER_SECRET, info)).public_key.format()
    assert (sealed.public_key, sealed.auth_pubkey) == (public_key, auth_pubkey)
    # Step 3: the context's compact JSON.
    context = (
        '{"keygen_session_id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",'
        f'"manifest_hash":{json.dumps(list(range(32)), separators=(",", ":"))},'
        '"user_id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d","enclave_id":1,"enclave_key_epoch":3,'
        f'"public_key":{json.dumps(list(public_key), separators=(",", ":"))},'
        f'"auth_pubkey":{json.dumps(list(auth_pubkey), separators=(",", ":"))},'
        '"require_signing_approval":false}'
    ).encode()
    # Step 4: the proof of possession.
    domain = b"registration-possession"
    digest = hashlib.sha256(
        b"keymeld-authorization-v1"
        + len(domain).to_bytes(8, "big")
        + domain
        + len(context).to_bytes(8, "big")
        + context
    ).digest()
    proof = PrivateKey(PLAYER_SECRET).sign_recoverable(digest, hasher=None)[:64]
    # Step 5: the envelope.
    envelope = (
        b'{"context":' + context
        + b',"private_key":' + json.dumps(list(PLAYER_SECRET), separators=(",", ":")).encode()
        + b',"proof_signature":' + json.dumps(list(proof), separators=(",", ":")).encode()
        + b"}"
    )  # fmt: skip
    # Step 6: ECIES.
    shared = PrivateKey(ephemeral).ecdh(slot.enclave_public_key)
    body = AESGCM(hkdf(shared, b"keymeld-ecies-encrypt")).encrypt(aes_nonce, envelope, None)
    expected = PrivateKey(ephemeral).public_key.format() + aes_nonce + body
    assert sealed.encrypted_envelope == expected

    # The enclave opens it and accepts the proof.
    opened = RegistrationEnvelope.from_json(
        loads(crypto.ecies_decrypt(ENCLAVE_SECRET, sealed.encrypted_envelope), "envelope", 1 << 16)
    )
    opened.check()


def test_nothing_is_sealed_to_an_enclave_that_does_not_verify(issuer: AttestationIssuer) -> None:
    nonce = os.urandom(32)
    stale = offer(issuer, nonce, document_nonce=os.urandom(32))
    with pytest.raises(AttestationError, match="nonce"):
        seal_registration(stale, PLAYER_SECRET, trust_of(issuer))
    other_root = EnclaveTrust(
        AttestationTrust(PcrPolicy({0: DEVNET_PCR0}), AttestationIssuer.create().trust_root)
    )
    with pytest.raises(AttestationError, match="chain"):
        seal_registration(offer(issuer, nonce), PLAYER_SECRET, other_root)


def test_the_enclave_refuses_a_bad_possession_proof(issuer: AttestationIssuer) -> None:
    slot = offer(issuer, os.urandom(32))
    sealed = seal_registration(slot, PLAYER_SECRET, trust_of(issuer))
    opened = RegistrationEnvelope.from_json(
        loads(crypto.ecies_decrypt(ENCLAVE_SECRET, sealed.encrypted_envelope), "envelope", 1 << 16)
    )
    forged = RegistrationEnvelope(opened.context, opened.private_key, bytes(64))
    with pytest.raises(crypto.KeymeldCryptoError, match="possession"):
        forged.check()
    other = RegistrationEnvelope.build(opened.context, bytes.fromhex("43" * 32))
    with pytest.raises(crypto.KeymeldCryptoError, match="does not match"):
        other.check()
