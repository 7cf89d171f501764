"""The client side of username accounts: the password never leaves the client.

Both clients (the headless player client and the browser module) follow these steps byte for
byte; the coordinator sees only the login key and the sealed nsec.

1. ``salt = tagged_hash("login-salt", lowercase(username))`` (BIP-340 tagged SHA-256 over the
   UTF-8 username).
2. ``stretched = scrypt(password, salt, N = 2^17, r = 8, p = 1, 32 bytes)`` over the UTF-8
   password in Unicode NFC.
3. ``login key = tagged_hash("login-auth", stretched)``: sent, as 64 hex digits, in the
   ``password`` field of register / login / change / reset; the server stores Argon2id of it.
4. ``vault key = tagged_hash("login-vault", stretched)``: seals the ``nsec1…`` string as
   ``encrypted_nsec = base64(nonce[24] ‖ XChaCha20-Poly1305(vault key, nonce, nsec,
   aad = "coordinator/nostr-key/v1"))`` (standard base64 with padding).

Password strength is checked here, before anything is derived (the server cannot see it):
at least 10 characters with a lower-case letter, an upper-case letter, a digit and another
character. Password reset signs the server's challenge with the account's key: a kind-27235
event with empty tags and ``content = challenge``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Final

from coordinator_core import xchacha
from coordinator_core.nip98 import KIND_HTTP_AUTH
from coordinator_core.nostr import npub_encode, nsec_decode, nsec_encode, sign_event
from ticketdlc.crypto import bip340
from ticketdlc.crypto.secp import tagged_hash

SCRYPT_N: Final = 1 << 17
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SCRYPT_MAXMEM: Final = 256 * 1024 * 1024
VAULT_AAD: Final = b"coordinator/nostr-key/v1"
MIN_PASSWORD_CHARS: Final = 10
MAX_PASSWORD_CHARS: Final = 1024
MAX_ENCRYPTED_NSEC_CHARS: Final = 512
USERNAME_PATTERN: Final = re.compile(r"\A[A-Za-z][A-Za-z0-9_-]{2,31}\Z")


class LoginKeyError(ValueError):
    """A username, password or sealed key is not acceptable."""


def check_username(username: str) -> str:
    """The username if it has 3–32 letters, digits, ``_`` or ``-`` and starts with a letter."""
    if not isinstance(username, str) or not USERNAME_PATTERN.match(username):
        raise LoginKeyError("username: 3 to 32 letters, digits, '_' or '-', starting with a letter")
    return username


def password_problems(password: str) -> list[str]:
    """What a password lacks (empty when it is strong enough)."""
    problems = []
    if len(password) < MIN_PASSWORD_CHARS:
        problems.append(f"at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        problems.append(f"at most {MAX_PASSWORD_CHARS} characters")
    for label, test in (
        ("a lower-case letter", str.islower),
        ("an upper-case letter", str.isupper),
        ("a digit", str.isdigit),
    ):
        if not any(test(ch) for ch in password):
            problems.append(label)
    if all(ch.isalnum() for ch in password):
        problems.append("a character that is not a letter or digit")
    return problems


def check_password(password: str) -> None:
    """Raise :class:`LoginKeyError` naming what a weak password lacks."""
    problems = password_problems(password)
    if problems:
        raise LoginKeyError("password needs " + ", ".join(problems))


def username_salt(username: str) -> bytes:
    return tagged_hash("login-salt", check_username(username).lower().encode())


@dataclass(frozen=True)
class LoginKeys:
    """The two keys stretched from a username and password."""

    auth_key: bytes  # sent to the server (as hex), which keeps only Argon2id of it
    vault_key: bytes  # never sent: seals the nsec

    @property
    def login_key(self) -> str:
        """The value of the ``password`` field in requests."""
        return self.auth_key.hex()

    def __repr__(self) -> str:
        return "LoginKeys(<redacted>)"


def derive_login_keys(username: str, password: str, *, check_strength: bool = True) -> LoginKeys:
    """Stretch a password with scrypt (about 128 MiB, a fraction of a second) into the keys.

    ``check_strength`` is for new passwords; logging in with an existing one skips it.
    """
    if check_strength:
        check_password(password)
    elif not 1 <= len(password) <= MAX_PASSWORD_CHARS:
        raise LoginKeyError(f"password: 1 to {MAX_PASSWORD_CHARS} characters")
    stretched = hashlib.scrypt(
        unicodedata.normalize("NFC", password).encode(),
        salt=username_salt(username),
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=SCRYPT_MAXMEM,
        dklen=32,
    )
    return LoginKeys(tagged_hash("login-auth", stretched), tagged_hash("login-vault", stretched))


def seal_nsec(vault_key: bytes, secret: bytes) -> str:
    """``encrypted_nsec`` for a 32-byte nostr secret key."""
    nonce = os.urandom(xchacha.NONCE_BYTES)
    sealed = xchacha.encrypt(vault_key, nonce, nsec_encode(secret).encode(), VAULT_AAD)
    return base64.b64encode(nonce + sealed).decode()


def open_nsec(vault_key: bytes, encrypted_nsec: str) -> bytes:
    """The 32-byte secret key sealed in ``encrypted_nsec`` (wrong password: LoginKeyError)."""
    if not isinstance(encrypted_nsec, str) or len(encrypted_nsec) > MAX_ENCRYPTED_NSEC_CHARS:
        raise LoginKeyError("encrypted_nsec is not a sealed key")
    try:
        raw = base64.b64decode(encrypted_nsec, validate=True)
    except (binascii.Error, ValueError):
        raise LoginKeyError("encrypted_nsec is not base64") from None
    if len(raw) < xchacha.NONCE_BYTES + xchacha.TAG_BYTES:
        raise LoginKeyError("encrypted_nsec is too short")
    nonce, sealed = raw[: xchacha.NONCE_BYTES], raw[xchacha.NONCE_BYTES :]
    try:
        plaintext = xchacha.decrypt(vault_key, nonce, sealed, VAULT_AAD)
        return nsec_decode(plaintext.decode())
    except (xchacha.XChaChaError, UnicodeDecodeError, ValueError):
        raise LoginKeyError("the sealed key does not open with this password") from None


def sign_reset_challenge(secret: bytes, challenge: str, now: int | None = None) -> str:
    """The ``signed_event`` of a password reset: JSON of a kind-27235 event over the challenge."""
    created_at = int(time.time()) if now is None else now
    event = sign_event(secret, created_at, KIND_HTTP_AUTH, [], challenge)
    return json.dumps(event.to_json(), separators=(",", ":"))


def register_body(
    username: str,
    password: str,
    secret: bytes,
    encrypted_bitcoin_private_key: str,
    network: str,
) -> dict[str, Any]:
    """The body of ``POST /api/v1/users/username/register`` (strength checked first)."""
    keys = derive_login_keys(username, password)
    return {
        "username": username,
        "password": keys.login_key,
        "encrypted_nsec": seal_nsec(keys.vault_key, secret),
        "nostr_pubkey": npub_encode(bip340.xonly_pubkey(secret)),
        "encrypted_bitcoin_private_key": encrypted_bitcoin_private_key,
        "network": network,
    }
