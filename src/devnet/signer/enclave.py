"""A simulated keymeld enclave: its own key and epoch, attestation, and the secrets it holds.

An enclave only ever sees its participants' keys after decrypting the registration envelope
sealed to its own key, and the session secret after decrypting the copy encrypted to it. What
it decrypted lives in memory only: a restart forgets it (the gateway replays the stored
ciphertexts, as the real gateway does after a KMS-restored restart), and a signing round in
progress cannot survive it (its nonce seeds are gone).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from coordinator_core.keymeld import crypto
from coordinator_core.keymeld.messages import (
    ParticipantRoster,
    RegistrationContext,
    RegistrationEnvelope,
    SignedRoster,
)
from coordinator_core.keymeld.wire import WireError, canonical, loads
from devnet.signer.musig import LocalSigner
from ticketdlc.typed_bytes import CompressedPubkey, SecretKey

Attestor = Callable[[int, bytes, bytes | None], bytes]
"""``(enclave id, enclave public key, nonce or None) -> COSE_Sign1 document`` (``b""``: none)."""

MAX_ENVELOPE_BYTES: Final = 64 * 1024
MAX_REMEMBERED_NONCES: Final = 4_000_000


class EnclaveRejection(ValueError):
    """The enclave refused a request (the gateway answers 400)."""


@dataclass
class Enclave:
    """One simulated enclave."""

    enclave_id: int
    secret: SecretKey = field(repr=False)
    epoch: int
    key_generation_time: int
    attestor: Attestor
    # memory only
    _session_secrets: dict[str, bytes] = field(default_factory=dict, repr=False)
    _participants: dict[tuple[str, str], LocalSigner] = field(default_factory=dict, repr=False)
    _nonce_digests: set[bytes] = field(default_factory=set, repr=False)
    nonces_issued: int = 0
    nonce_reuse: int = 0

    @property
    def public_key(self) -> CompressedPubkey:
        return crypto.public_key(self.secret)

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()

    def attestation(self, nonce: bytes | None) -> bytes:
        """A fresh attestation document binding this key (and ``nonce`` when given)."""
        return self.attestor(self.enclave_id, self.public_key, nonce)

    def restart(self, rotate_key: bool) -> None:
        """Forget everything held in memory; a new epoch (and a new key if ``rotate_key``)."""
        if rotate_key:
            self.secret = new_enclave_secret()
            self.key_generation_time = int(time.time())
        self.epoch += 1
        self._session_secrets.clear()
        self._participants.clear()

    # -- secrets ----------------------------------------------------------------------------

    def open(self, blob: bytes) -> bytes:
        """ECIES-decrypt something sealed to this enclave."""
        try:
            return crypto.ecies_decrypt(self.secret, blob)
        except crypto.KeymeldCryptoError as exc:
            raise EnclaveRejection(exc.message) from None

    def session_secret(self, session_id: str, sealed: bytes) -> bytes:
        """The session secret of ``session_id``, decrypted from its copy for this enclave."""
        secret = self._session_secrets.get(session_id)
        if secret is None:
            secret = self.open(sealed)
            if len(secret) != 32:
                raise EnclaveRejection("the session secret is not 32 bytes")
            self._session_secrets[session_id] = secret
        return secret

    def reseal_secret(self, secret: bytes, recipient: CompressedPubkey) -> bytes:
        """Encrypt a session secret to another enclave of the session."""
        return crypto.ecies_encrypt(recipient, secret)

    def validate_registration(
        self, session_id: str, ciphertext: bytes, expected: RegistrationContext
    ) -> LocalSigner:
        """Decrypt a registration envelope and check it (``ValidateRegistration``)."""
        if len(ciphertext) > MAX_ENVELOPE_BYTES:
            raise EnclaveRejection("the registration envelope is too large")
        plaintext = self.open(ciphertext)
        try:
            envelope = RegistrationEnvelope.from_json(
                loads(plaintext, "envelope", MAX_ENVELOPE_BYTES)
            )
        except WireError as exc:
            raise EnclaveRejection(f"malformed registration envelope: {exc.message}") from None
        if canonical(envelope.context.to_json()) != canonical(expected.to_json()):
            raise EnclaveRejection("the sealed context is not the authorized registration context")
        try:
            envelope.check()
        except crypto.KeymeldCryptoError as exc:
            raise EnclaveRejection(exc.message) from None
        signer = LocalSigner(envelope.context.public_key, envelope.private_key)
        self._participants[(session_id, expected.user_id)] = signer
        return signer

    def participant(self, session_id: str, user_id: str) -> LocalSigner | None:
        """A participant key already decrypted in this enclave's memory."""
        return self._participants.get((session_id, user_id))

    def forget_session(self, session_id: str) -> None:
        self._session_secrets.pop(session_id, None)
        for key in [k for k in self._participants if k[0] == session_id]:
            del self._participants[key]

    # -- signing ----------------------------------------------------------------------------

    def new_round_seed(self) -> bytes:
        """A fresh seed for one signing round's nonces (memory only)."""
        return os.urandom(32)

    def record_nonce(self, pubnonce: bytes) -> None:
        """Remember issued nonces so reuse would be noticed (and reported by the devnet API)."""
        digest = hashlib.sha256(pubnonce).digest()[:16]
        self.nonces_issued += 1
        if digest in self._nonce_digests:
            self.nonce_reuse += 1
        elif len(self._nonce_digests) < MAX_REMEMBERED_NONCES:
            self._nonce_digests.add(digest)

    def sign_roster(self, roster: ParticipantRoster) -> SignedRoster:
        return SignedRoster.sign(roster, self.secret)


def new_enclave_secret() -> SecretKey:
    """A random valid secp256k1 secret key."""
    while True:
        candidate = SecretKey(os.urandom(32))
        try:
            crypto.public_key(candidate)
        except ValueError:
            continue
        return candidate
