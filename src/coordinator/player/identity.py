"""A player's key material: one seed file (mode 0600) holding a nostr identity and a wallet seed.

File format (JSON)::

    {"version": 1, "network": "regtest", "nostr_secret": "<64 hex>", "wallet_seed": "<64 hex>"}

The nostr secret signs every NIP-98 request (it is the player's account); the wallet seed
derives each entry's DLC key and payout preimage from the entry id (``coordinator_core.
entry_keys``), so nothing else secret has to be stored. A file readable by group or others is
refused.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from coordinator_core.bolt11 import BitcoinNetwork
from coordinator_core.entry_keys import EntryKeys, derive_entry_keys
from coordinator_core.errors import ConfigError
from coordinator_core.nostr import npub_encode
from coordinator_core.private_file import PrivateFileError, read_private, write_private
from ticketdlc.crypto import bip340
from ticketdlc.crypto.secp import CURVE_ORDER

FORMAT_VERSION = 1
MAX_FILE_BYTES = 4096


@dataclass(frozen=True)
class PlayerIdentity:
    """The secrets of one player on one network."""

    network: BitcoinNetwork
    nostr_secret: bytes
    wallet_seed: bytes

    @property
    def pubkey_hex(self) -> str:
        """The x-only nostr public key, hex (the caller identity the coordinator sees)."""
        return bip340.xonly_pubkey(self.nostr_secret).hex()

    @property
    def npub(self) -> str:
        return npub_encode(bip340.xonly_pubkey(self.nostr_secret))

    def entry_keys(self, entry_id: uuid.UUID) -> EntryKeys:
        """The DLC key and payout preimage of one of this player's entries."""
        return derive_entry_keys(self.wallet_seed, self.network, entry_id)

    def __repr__(self) -> str:  # never show the secrets
        return f"PlayerIdentity(network={self.network}, npub={self.npub})"

    @classmethod
    def generate(cls, network: BitcoinNetwork) -> PlayerIdentity:
        return cls(network, _random_scalar(), secrets.token_bytes(32))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "network": self.network,
            "nostr_secret": self.nostr_secret.hex(),
            "wallet_seed": self.wallet_seed.hex(),
        }

    @classmethod
    def from_json(cls, data: Any) -> PlayerIdentity:
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a version {FORMAT_VERSION} player seed file")
        network = data.get("network")
        if network not in get_args(BitcoinNetwork):
            raise ValueError(f"unknown network {network!r}")
        assert isinstance(network, str)
        nostr_secret = _hex32(data.get("nostr_secret"), "nostr_secret")
        if not 0 < int.from_bytes(nostr_secret, "big") < CURVE_ORDER:
            raise ValueError("nostr_secret is not a valid secret key")
        seed = _hex32(data.get("wallet_seed"), "wallet_seed")
        return cls(network, nostr_secret, seed)  # type: ignore[arg-type]  # checked above


def _hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise ValueError(f"{what} must be 64 hex characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{what} must be 64 hex characters") from None


def _random_scalar() -> bytes:
    while True:
        candidate = secrets.token_bytes(32)
        if 0 < int.from_bytes(candidate, "big") < CURVE_ORDER:
            return candidate


def read_private_file(path: Path, limit: int) -> bytes:
    """A file only its owner may read (``coordinator_core.private_file``), as a ConfigError."""
    try:
        return read_private(path, limit)
    except PrivateFileError as exc:
        raise ConfigError(str(exc)) from None


def create_identity(path: Path, network: BitcoinNetwork) -> PlayerIdentity:
    """Create a new seed file at ``path``; refuses to overwrite an existing one."""
    if path.exists():
        raise ConfigError(f"{path} exists already; refusing to overwrite a player seed file")
    identity = PlayerIdentity.generate(network)
    write_private(path, json.dumps(identity.to_json(), indent=2).encode() + b"\n")
    return identity


def load_identity(path: Path) -> PlayerIdentity:
    """Read and check the seed file at ``path``."""
    raw = read_private_file(path, MAX_FILE_BYTES)
    try:
        return PlayerIdentity.from_json(json.loads(raw))
    except ValueError as exc:
        raise ConfigError(f"invalid player seed file {path}: {exc}") from None


def load_or_create_identity(path: Path, network: BitcoinNetwork) -> PlayerIdentity:
    """The identity at ``path``, created first if the file does not exist."""
    if not path.exists():
        return create_identity(path, network)
    identity = load_identity(path)
    if identity.network != network:
        raise ConfigError(f"{path} is a {identity.network} seed, not {network}")
    return identity
