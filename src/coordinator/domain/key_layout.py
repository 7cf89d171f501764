"""Which key layout a data folder was made with, and what to do about an old one.

Before per-role keys, the coordinator used its seed directly as its nostr identity and as its
wallet's BIP-32 root. A data folder from then has ``coordinator_metadata.pubkey`` equal to the
seed's own x-only key, or no identity row at all next to an existing wallet store (the wallet
commands did not record one). Such a folder must be migrated before the coordinator runs on it:
its identity row is replaced, its wallet store is set aside (the new wallet has other
descriptors), and the old wallet's funds are swept to the new one.
"""

from __future__ import annotations

from enum import StrEnum

from coordinator.domain.keys import CoordinatorKeys
from coordinator_core.errors import ConfigError

MIGRATE_COMMAND = "coordinator keys migrate"
SWEEP_COMMAND = "coordinator wallet sweep-legacy"


class KeyLayout(StrEnum):
    FRESH = "fresh"  # nothing recorded yet: record the identity
    CURRENT = "current"  # per-role keys
    LEGACY = "legacy"  # single-key layout: migrate first


class LegacyKeyLayoutError(ConfigError):
    """The data folder was made with the single-key layout."""

    code = "legacy_key_layout"

    def __init__(self) -> None:
        super().__init__(
            "this data folder was made with the single-key layout (identity and wallet root "
            f"= the seed); stop the coordinator and run `{MIGRATE_COMMAND}`, then "
            f"`{SWEEP_COMMAND}` to move the old wallet's funds"
        )


def key_layout(
    recorded_pubkey: str | None, keys: CoordinatorKeys, wallet_store_exists: bool
) -> KeyLayout:
    """Classify a data folder from its recorded identity and whether a wallet store exists.

    Raises ``ConfigError`` when the folder belongs to another seed.
    """
    if recorded_pubkey is None:
        return KeyLayout.LEGACY if wallet_store_exists else KeyLayout.FRESH
    if recorded_pubkey == keys.identity_pubkey_hex:
        return KeyLayout.CURRENT
    if recorded_pubkey == keys.legacy_pubkey_hex:
        return KeyLayout.LEGACY
    raise ConfigError(
        f"coordinator key {keys.identity_pubkey_hex} does not match the key {recorded_pubkey} "
        "this database was created with"
    )
