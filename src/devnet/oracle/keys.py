"""The devnet oracle's key and per-event nonces.

Without a seed the key lives in ``oracle_private_key.pem`` in the data directory (the oracle's
PEM format) and every event nonce is fresh randomness. With ``--seed HEX`` the 32-byte seed is
the oracle's secret key and event nonces are derived from the seed and the event id, so tests
get reproducible keys, announcements and attestations.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from coordinator_core.keyfile import load_or_create_secret
from coordinator_core.nostr import npub_encode
from ticketdlc.crypto.secp import CURVE_ORDER, Point, scalar_from_bytes_nonzero, tagged_hash

KEY_FILE_NAME = "oracle_private_key.pem"
NONCE_TAG = "devnet-oracle/event-nonce"


@dataclass(frozen=True)
class OracleKeys:
    """The oracle's secret key, its public key, and how event nonces are drawn."""

    secret: int
    pubkey: Point
    seed: bytes | None = None

    @classmethod
    def from_secret(cls, secret: bytes, *, deterministic: bool) -> OracleKeys:
        value = scalar_from_bytes_nonzero(secret)
        return cls(value, Point.from_secret(value), secret if deterministic else None)

    @classmethod
    def from_seed(cls, seed_hex: str) -> OracleKeys:
        """Deterministic keys from a 32-byte hex seed (the secret key itself)."""
        try:
            seed = bytes.fromhex(seed_hex)
            return cls.from_secret(seed, deterministic=True)
        except ValueError as exc:
            raise ValueError(f"--seed must be 64 hex digits of a valid secret key: {exc}") from None

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> OracleKeys:
        """The key in ``oracle_private_key.pem``, created on first start."""
        return cls.from_secret(load_or_create_secret(data_dir / KEY_FILE_NAME), deterministic=False)

    @property
    def xonly(self) -> bytes:
        return self.pubkey.xonly()

    @property
    def npub(self) -> str:
        return npub_encode(self.xonly)

    def event_nonce(self, event_id: uuid.UUID) -> int:
        """A nonce secret for one event; never reuse one for two events."""
        if self.seed is None:
            return secrets.randbelow(CURVE_ORDER - 1) + 1
        counter = 0
        while True:
            digest = tagged_hash(NONCE_TAG, self.seed + event_id.bytes + bytes([counter]))
            nonce = int.from_bytes(digest, "big")
            if 0 < nonce < CURVE_ORDER:
                return nonce
            counter += 1
