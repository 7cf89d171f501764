"""Accounts (users.db): nostr and username sign-up and login, password change and reset.

The server never sees a password: username accounts send the *login key* derived on the
client (``coordinator_core.login_keys``), and the server keeps Argon2id of it. Unknown
usernames cost the same as known ones: login verifies against a dummy hash, sign-up with a
taken username hashes anyway and answers as if it had succeeded, and forgot-password answers
with a challenge and an npub-shaped value derived from the username.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from coordinator.domain.ports.users import UserRecord, UserStore
from coordinator_core.errors import AuthError, ConflictError
from coordinator_core.nip98 import KIND_HTTP_AUTH, json_depth
from coordinator_core.nostr import NostrEvent, NostrEventError, npub_encode, verify_event

# Argon2id v19 with the OWASP parameters upstream used (m = 19 MiB, t = 2, p = 1).
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19_456
ARGON2_PARALLELISM = 1
MAX_CONCURRENT_HASHES = 4
MAX_SIGNED_EVENT_CHARS = 4096


def invalid_login() -> AuthError:
    return AuthError(401, "invalid_login", "unknown account or wrong password")


def invalid_reset() -> AuthError:
    return AuthError(401, "invalid_reset", "the reset challenge or its signature is not valid")


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class NewUsernameAccount:
    username: str
    login_key: str
    encrypted_nsec: str
    nostr_pubkey: str  # npub
    encrypted_bitcoin_private_key: str
    network: str


class Accounts:
    """The account operations behind the users routes."""

    def __init__(
        self, store: UserStore, reset_ttl_secs: int, hasher: PasswordHasher | None = None
    ) -> None:
        self.store = store
        self.reset_ttl_secs = reset_ttl_secs
        self.hasher = hasher or PasswordHasher(
            time_cost=ARGON2_TIME_COST,
            memory_cost=ARGON2_MEMORY_KIB,
            parallelism=ARGON2_PARALLELISM,
        )
        self._dummy_hash = self.hasher.hash(secrets.token_hex(32))
        self._decoy_key = secrets.token_bytes(32)
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_HASHES)

    # -- Argon2, off the event loop and bounded in concurrency ------------------------------

    async def _hash(self, login_key: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self.hasher.hash, login_key)

    async def _verify(self, stored: str | None, login_key: str) -> bool:
        """Argon2 verification; with no stored hash the dummy is verified (and fails)."""

        def verify() -> bool:
            try:
                return self.hasher.verify(stored or self._dummy_hash, login_key)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        async with self._slots:
            matched = await asyncio.to_thread(verify)
        return matched and stored is not None

    # -- nostr accounts ---------------------------------------------------------------------

    async def register_nostr(
        self, npub: str, encrypted_bitcoin_private_key: str, network: str
    ) -> UserRecord:
        now = now_rfc3339()
        record = UserRecord(
            npub, encrypted_bitcoin_private_key, network, None, None, None, now, now
        )
        if not await self.store.insert(record):
            raise ConflictError("this key or wallet key is already registered")
        return record

    async def login_nostr(self, npub: str) -> UserRecord:
        user = await self.store.by_npub(npub)
        if user is None:
            raise invalid_login()
        return user

    # -- username accounts ------------------------------------------------------------------

    async def register_username(self, account: NewUsernameAccount) -> None:
        """Create the account; a taken username (or key) changes nothing and looks the same."""
        password_hash = await self._hash(account.login_key)
        now = now_rfc3339()
        await self.store.insert(
            UserRecord(
                account.nostr_pubkey,
                account.encrypted_bitcoin_private_key,
                account.network,
                account.username,
                password_hash,
                account.encrypted_nsec,
                now,
                now,
            )
        )

    async def login_username(self, username: str, login_key: str) -> UserRecord:
        user = await self.store.by_username(username)
        if not await self._verify(user.password_hash if user else None, login_key):
            raise invalid_login()
        assert user is not None
        return user

    async def change_password(
        self, npub: str, current_key: str, new_key: str, new_encrypted_nsec: str
    ) -> None:
        user = await self.store.by_npub(npub)
        if user is None or user.password_hash is None:
            raise AuthError(400, "not_a_username_account", "this key has no password")
        if not await self._verify(user.password_hash, current_key):
            raise invalid_login()
        new_hash = await self._hash(new_key)
        await self.store.update_password(npub, new_hash, new_encrypted_nsec, now_rfc3339())

    async def forgot_password(self, username: str) -> dict[str, str]:
        """A fresh single-use challenge and the account's npub (decoys for unknown names)."""
        challenge = secrets.token_hex(32)
        user = await self.store.by_username(username)
        if user is None or user.password_hash is None:
            decoy = hmac.new(self._decoy_key, username.lower().encode(), hashlib.sha256)
            return {"challenge": challenge, "nostr_pubkey": npub_encode(decoy.digest())}
        now = int(time.time())
        await self.store.add_reset_challenge(
            challenge, user.username or username, now + self.reset_ttl_secs, now
        )
        return {"challenge": challenge, "nostr_pubkey": user.nostr_pubkey}

    async def reset_password(
        self,
        username: str,
        challenge: str,
        signed_event: str,
        new_key: str,
        new_encrypted_nsec: str,
    ) -> None:
        """Set a new password if ``signed_event`` is the account key's kind-27235 signature of
        an unexpired, unused ``challenge``. Every failure looks the same."""
        user = await self.store.by_username(username)
        event = _reset_event(signed_event)
        new_hash = await self._hash(new_key)  # also for unknown names: the same cost
        if (
            user is None
            or user.username is None
            or event is None
            or event.kind != KIND_HTTP_AUTH
            or event.content != challenge
            or npub_encode(bytes.fromhex(event.pubkey)) != user.nostr_pubkey
        ):
            raise invalid_reset()
        now = int(time.time())
        reset = await self.store.reset_password(
            challenge, user.username, now, new_hash, new_encrypted_nsec, now_rfc3339()
        )
        if not reset:
            raise invalid_reset()


def _reset_event(signed_event: str) -> NostrEvent | None:
    if len(signed_event) > MAX_SIGNED_EVENT_CHARS or json_depth(signed_event.encode()) > 4:
        return None
    try:
        event = NostrEvent.from_json(json.loads(signed_event))
        verify_event(event)
    except (ValueError, NostrEventError):
        return None
    return event
