"""Port of the accounts store (users.db): nostr and username accounts, reset challenges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class UserRecord:
    """One account. ``nostr_pubkey`` is the bech32 npub; timestamps are RFC 3339 UTC."""

    nostr_pubkey: str
    encrypted_bitcoin_private_key: str
    network: str
    username: str | None
    password_hash: str | None  # Argon2id PHC string of the login key; never leaves the server
    encrypted_nsec: str | None
    created_at: str
    updated_at: str


class UserStore(Protocol):
    async def by_npub(self, npub: str) -> UserRecord | None:
        """The account of a nostr key."""
        ...

    async def by_username(self, username: str) -> UserRecord | None:
        """The account of a username (case-insensitive)."""
        ...

    async def insert(self, user: UserRecord) -> bool:
        """Create an account; False (and nothing written) if the npub, the username or the
        encrypted wallet key is taken."""
        ...

    async def update_password(
        self, npub: str, password_hash: str, encrypted_nsec: str, updated_at: str
    ) -> bool:
        """Replace the login-key hash and sealed nsec of a username account."""
        ...

    async def add_reset_challenge(
        self, challenge: str, username: str, expires_at: int, now: int
    ) -> None:
        """Remember a reset challenge (and forget expired ones)."""
        ...

    async def reset_password(
        self,
        challenge: str,
        username: str,
        now: int,
        password_hash: str,
        encrypted_nsec: str,
        updated_at: str,
    ) -> bool:
        """In one transaction: consume the challenge (if it is the username's and unexpired)
        and set the new password; False (and nothing written) otherwise."""
        ...

    async def signups_since(self, created_at: str) -> int:
        """Accounts created at or after ``created_at``."""
        ...
