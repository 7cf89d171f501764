"""keymeld's key derivations, symmetric session encryption, ECIES and authorization digests.

* HKDF-SHA256 derivations (keymeld §3.2): the session auth key from the session secret, a
  participant's per-session auth key from its private key.
* ``EncryptedData`` (§3.3): AES-256-GCM under ``HKDF(session secret, ∅, context)``, no AAD,
  wire form ``len(context) ‖ context ‖ nonce[12] ‖ ciphertext‖tag``; a blob opens only under its
  exact context.
* ECIES to an enclave key (§3.4): ephemeral ECDH (libsecp256k1's default hash), HKDF label
  ``keymeld-ecies-encrypt``, AES-256-GCM; wire form ``E[33] ‖ nonce[12] ‖ ciphertext‖tag``.
* Authorization digests (keymeld-0.10 §2.1): ``SHA256("keymeld-authorization-v1" ‖
  u64_be(len D) ‖ D ‖ u64_be(len J) ‖ J)`` over the canonical JSON ``J`` of a payload, signed
  with low-S compact ECDSA.
"""

from __future__ import annotations

import hashlib
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from coordinator_core.errors import ValidationError
from coordinator_core.keymeld.wire import Json, canonical
from ticketdlc.crypto import ecdsa
from ticketdlc.crypto.secp import CURVE_ORDER, Point
from ticketdlc.typed_bytes import CompressedPubkey, SecretKey

SESSION_AUTH_SALT: Final = b"keymeld-session-auth-v1"
SESSION_AUTH_INFO: Final = b"session-auth-key"
USER_AUTH_PREFIX: Final = "keymeld-session-auth-v1:"
SINGLE_SIGNER_SCOPE: Final = "single_signer_auth"
ECIES_INFO: Final = b"keymeld-ecies-encrypt"
AUTHORIZATION_PREFIX: Final = b"keymeld-authorization-v1"

NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
ECIES_OVERHEAD: Final = 33 + NONCE_SIZE + TAG_SIZE
MAX_CONTEXT_BYTES: Final = 255


class Context:
    """``EncryptedData`` contexts on the wire (keymeld §3.3, keymeld-0.10 §4.5)."""

    TAPROOT_TWEAK: Final = "taproot_tweak"
    KEYGEN_SESSION: Final = "keygen_session"
    KEYGEN_PARTICIPANT_SESSION: Final = "keygen_participant_session"
    SESSION_DATA: Final = "session_data"
    ADAPTOR_CONFIGS: Final = "adaptor_configs"
    AGGREGATE_PUBLIC_KEY: Final = "aggregate_public_key"
    SUBSET_AGGREGATE_PUBLIC_KEY: Final = "subset_aggregate_public_key"
    SIGNATURE: Final = "signature"
    ADAPTOR_SIGNATURES: Final = "adaptor_signatures"
    ROSTER: Final = "authorized_participant_roster_v1"


class KeymeldCryptoError(ValidationError):
    """A ciphertext, key or signature does not open, parse or verify."""


def hkdf32(ikm: bytes, salt: bytes | None, info: bytes) -> bytes:
    """HKDF-SHA256 with a 32-byte output (RFC 5869's zero salt when ``salt`` is None)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _scalar(candidate: bytes, what: str) -> SecretKey:
    if not 0 < int.from_bytes(candidate, "big") < CURVE_ORDER:  # probability ~2^-128
        raise KeymeldCryptoError(f"{what}: derived value is not a valid secret key")
    return SecretKey(candidate)


def secret_key(data: bytes, what: str = "secret key") -> SecretKey:
    """``data`` as a :data:`SecretKey`: 32 bytes in ``[1, n-1]``."""
    _length(data, 32, what)
    return _scalar(data, what)


def compressed_key(data: bytes, what: str = "public key") -> CompressedPubkey:
    """``data`` as a :data:`CompressedPubkey`: a valid 33-byte compressed point."""
    if not is_point(data):
        raise KeymeldCryptoError(f"{what}: not a compressed secp256k1 key")
    return CompressedPubkey(data)


def public_key(secret: SecretKey) -> CompressedPubkey:
    """Compressed public key of a 32-byte secret key."""
    return Point.from_secret(secret).to_bytes()


def session_auth_secret(session_secret: bytes) -> SecretKey:
    """The session auth key: signs ``X-Session-Signature``; its pubkey is ``session_public_key``."""
    _length(session_secret, 32, "session secret")
    return _scalar(hkdf32(session_secret, SESSION_AUTH_SALT, SESSION_AUTH_INFO), "session auth")


def user_auth_secret(private_key: SecretKey, scope_session_id: str) -> SecretKey:
    """A participant's auth key for one keygen session (``X-User-Signature``, approvals)."""
    _length(private_key, 32, "private key")
    info = (USER_AUTH_PREFIX + scope_session_id).encode()
    return _scalar(hkdf32(private_key, None, info), "user auth")


def user_auth_pubkey(private_key: SecretKey, scope_session_id: str) -> CompressedPubkey:
    """The ``auth_pubkey`` a participant registers for ``scope_session_id``."""
    return public_key(user_auth_secret(private_key, scope_session_id))


def _length(data: bytes, size: int, what: str) -> None:
    if len(data) != size:
        raise KeymeldCryptoError(f"{what}: expected {size} bytes")


# ---------------------------------------------------------------------------------------------
# EncryptedData


class SessionCipher:
    """``EncryptedData`` under one session secret; derives each context's key once."""

    def __init__(self, session_secret: bytes) -> None:
        _length(session_secret, 32, "session secret")
        self._secret = bytes(session_secret)
        self._keys: dict[str, AESGCM] = {}

    def _aead(self, context: str) -> AESGCM:
        aead = self._keys.get(context)
        if aead is None:
            aead = AESGCM(hkdf32(self._secret, None, context.encode()))
            self._keys[context] = aead
        return aead

    def encrypt(self, context: str, plaintext: bytes, nonce: bytes | None = None) -> bytes:
        """The ``EncryptedData`` blob of ``plaintext`` (a fresh random nonce unless given)."""
        label = context.encode()
        if not label or len(label) > MAX_CONTEXT_BYTES:
            raise ValueError("an EncryptedData context is 1–255 bytes")
        nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
        _length(nonce, NONCE_SIZE, "nonce")
        body = self._aead(context).encrypt(nonce, plaintext, None)
        return bytes((len(label),)) + label + nonce + body

    def encrypt_hex(self, context: str, plaintext: bytes) -> str:
        """:meth:`encrypt` as the lowercase hex the API carries."""
        return self.encrypt(context, plaintext).hex()

    def decrypt(self, context: str, blob: bytes) -> bytes:
        """Open an ``EncryptedData`` blob made under exactly ``context``."""
        if not blob:
            raise KeymeldCryptoError(f"{context}: empty EncryptedData")
        size = blob[0]
        if len(blob) < 1 + size + NONCE_SIZE + TAG_SIZE:
            raise KeymeldCryptoError(f"{context}: EncryptedData too short")
        if blob[1 : 1 + size] != context.encode():
            raise KeymeldCryptoError(f"{context}: EncryptedData made for another context")
        nonce = blob[1 + size : 1 + size + NONCE_SIZE]
        try:
            return self._aead(context).decrypt(nonce, blob[1 + size + NONCE_SIZE :], None)
        except InvalidTag:
            raise KeymeldCryptoError(f"{context}: EncryptedData does not open") from None

    def decrypt_hex(self, context: str, text: str) -> bytes:
        """:meth:`decrypt` of the hex form (hex digits only: no whitespace, unlike ``fromhex``)."""
        if not (text.isascii() and text.isalnum()):  # C-speed; ``fromhex`` refuses the rest
            raise KeymeldCryptoError(f"{context}: EncryptedData is not hex")
        try:
            data = bytes.fromhex(text)
        except ValueError:
            raise KeymeldCryptoError(f"{context}: EncryptedData is not hex") from None
        return self.decrypt(context, data)


# ---------------------------------------------------------------------------------------------
# ECIES


def ecies_encrypt(
    recipient: CompressedPubkey,
    plaintext: bytes,
    *,
    ephemeral_secret: SecretKey | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """ECIES to a compressed secp256k1 key: ``E[33] ‖ nonce[12] ‖ ciphertext‖tag``."""
    ephemeral = SecretKey(os.urandom(32)) if ephemeral_secret is None else ephemeral_secret
    while ephemeral_secret is None and not 0 < int.from_bytes(ephemeral, "big") < CURVE_ORDER:
        ephemeral = SecretKey(os.urandom(32))
    try:
        shared = ecdsa.ecdh(ephemeral, recipient)
    except ValueError:
        raise KeymeldCryptoError("ECIES: invalid recipient key") from None
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    _length(nonce, NONCE_SIZE, "nonce")
    body = AESGCM(hkdf32(shared, None, ECIES_INFO)).encrypt(nonce, plaintext, None)
    return public_key(ephemeral) + nonce + body


def ecies_decrypt(secret: SecretKey, blob: bytes) -> bytes:
    """Open an ECIES blob with the recipient's secret key."""
    if len(blob) < ECIES_OVERHEAD:
        raise KeymeldCryptoError("ECIES ciphertext too short")
    try:
        shared = ecdsa.ecdh(secret, blob[:33])
    except ValueError:
        raise KeymeldCryptoError("ECIES: invalid ephemeral key") from None
    aead = AESGCM(hkdf32(shared, None, ECIES_INFO))
    try:
        return aead.decrypt(blob[33 : 33 + NONCE_SIZE], blob[33 + NONCE_SIZE :], None)
    except InvalidTag:
        raise KeymeldCryptoError("ECIES ciphertext does not open with this key") from None


# ---------------------------------------------------------------------------------------------
# Authorization digests


def authorization_digest(domain: str, payload: Json) -> bytes:
    """``SHA256("keymeld-authorization-v1" ‖ u64_be(len D) ‖ D ‖ u64_be(len J) ‖ J)``."""
    label = domain.encode()
    body = canonical(payload)
    return hashlib.sha256(
        AUTHORIZATION_PREFIX
        + len(label).to_bytes(8, "big")
        + label
        + len(body).to_bytes(8, "big")
        + body
    ).digest()


def authorize(secret: SecretKey, domain: str, payload: Json) -> bytes:
    """The 64-byte compact low-S ECDSA signature of ``payload`` under ``domain``."""
    return ecdsa.sign(secret, authorization_digest(domain, payload))


def is_authorized(pubkey: CompressedPubkey, domain: str, payload: Json, signature: bytes) -> bool:
    """True if ``signature`` authorizes ``payload`` under ``domain`` for ``pubkey``."""
    return ecdsa.verify(pubkey, authorization_digest(domain, payload), signature)


def is_point(data: bytes) -> bool:
    """True for a valid 33-byte compressed secp256k1 point."""
    try:
        Point.from_bytes(data)
    except ValueError:
        return False
    return True
