"""Per-entry keys a player derives from its wallet seed and the entry id (no state to keep).

Both come from BIP-340 tagged hashes over ``seed ‖ network magic ‖ entry_id`` (the 32-byte
wallet seed, the 4 message-start bytes of the network, the 16 bytes of the entry's UUID):

* entry key (the ephemeral DLC key) = ``tagged_hash("coordinator/entry-key/v1", …)``, read as
  a big-endian scalar (refused in the 2⁻¹²⁸-likely case that it is 0 or ≥ n);
* payout preimage = ``tagged_hash("coordinator/payout-preimage/v1", …)``; payout hash =
  ``SHA256(payout preimage)``.

The browser module derives the same bytes, so an entry made in one can be settled by the other.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Final

from coordinator_core.bolt11 import BitcoinNetwork
from ticketdlc.crypto.secp import CURVE_ORDER, Point, tagged_hash

ENTRY_KEY_TAG: Final = "coordinator/entry-key/v1"
PAYOUT_PREIMAGE_TAG: Final = "coordinator/payout-preimage/v1"

#: Message-start bytes ("network magic") of each network, in wire order.
NETWORK_MAGIC: Final[dict[BitcoinNetwork, bytes]] = {
    "bitcoin": bytes.fromhex("f9beb4d9"),
    "testnet": bytes.fromhex("0b110907"),
    "signet": bytes.fromhex("0a03cf40"),
    "regtest": bytes.fromhex("fabfb5da"),
}

#: Human-readable part of segwit addresses on each network.
ADDRESS_HRP: Final[dict[BitcoinNetwork, str]] = {
    "bitcoin": "bc",
    "testnet": "tb",
    "signet": "tb",
    "regtest": "bcrt",
}


class EntryKeyError(ValueError):
    """The seed or entry id cannot give entry keys."""


@dataclass(frozen=True)
class EntryKeys:
    """The secrets of one entry and their public forms."""

    entry_id: uuid.UUID
    secret: bytes  # the entry's ephemeral DLC key (32 bytes)
    payout_preimage: bytes

    @property
    def pubkey(self) -> Point:
        return Point.from_secret(self.secret)

    @property
    def pubkey_hex(self) -> str:
        """Compressed public key, hex (the ``ephemeral_pubkey`` of the entry)."""
        return self.pubkey.to_bytes().hex()

    @property
    def payout_hash(self) -> bytes:
        return hashlib.sha256(self.payout_preimage).digest()

    def __repr__(self) -> str:  # never show the secrets
        return f"EntryKeys(entry_id={self.entry_id}, pubkey={self.pubkey_hex})"


def _message(seed: bytes, network: BitcoinNetwork, entry_id: uuid.UUID) -> bytes:
    if len(seed) != 32:
        raise EntryKeyError("the wallet seed must be 32 bytes")
    try:
        magic = NETWORK_MAGIC[network]
    except KeyError:
        raise EntryKeyError(f"unknown network {network!r}") from None
    return seed + magic + entry_id.bytes


def derive_entry_keys(seed: bytes, network: BitcoinNetwork, entry_id: uuid.UUID) -> EntryKeys:
    """The entry key and payout preimage of ``entry_id`` on ``network``."""
    message = _message(seed, network, entry_id)
    secret = tagged_hash(ENTRY_KEY_TAG, message)
    if not 0 < int.from_bytes(secret, "big") < CURVE_ORDER:
        raise EntryKeyError("the derived entry key is not a valid scalar; use another entry id")
    return EntryKeys(entry_id, secret, tagged_hash(PAYOUT_PREIMAGE_TAG, message))
