"""Player key material: the seed file and the per-entry keys derived from it."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest

from coordinator.player.identity import create_identity, load_identity, load_or_create_identity
from coordinator_core.entry_keys import NETWORK_MAGIC, derive_entry_keys
from coordinator_core.errors import ConfigError
from ticketdlc.crypto.secp import Point

SEED = bytes(range(32))
ENTRY = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
# Known answer (the browser module must derive the same bytes).
VECTOR = {
    "entry_secret": "b033da6ccb521e83f8506f5c3cca82740f9ca8fa9af22d3759a99b4b7bdee1fc",
    "entry_pubkey": "0275918182a8fb66969e1b88c9aa2dd72ab4788de4dd94c0a610c5493604b74f2c",
    "payout_preimage": "095f496b067eab6e70b85f19d8ffb560599727890e291e970ee09b99f321e0f0",
    "payout_hash": "0c0810e8c1f274316373224612edef356b0ac3541df3c58d98c2b8c2f529887b",
}


def tagged(tag: str, message: bytes) -> bytes:
    digest = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(digest + digest + message).digest()


def test_entry_keys_known_answer() -> None:
    keys = derive_entry_keys(SEED, "regtest", ENTRY)
    assert keys.secret.hex() == VECTOR["entry_secret"]
    assert keys.pubkey_hex == VECTOR["entry_pubkey"]
    assert keys.payout_preimage.hex() == VECTOR["payout_preimage"]
    assert keys.payout_hash.hex() == VECTOR["payout_hash"]
    # The construction, spelled out: tagged hashes over seed ‖ magic ‖ entry id bytes.
    message = SEED + bytes.fromhex("fabfb5da") + ENTRY.bytes
    assert tagged("coordinator/entry-key/v1", message) == keys.secret
    assert tagged("coordinator/payout-preimage/v1", message) == keys.payout_preimage
    assert Point.from_secret(keys.secret).to_bytes().hex() == VECTOR["entry_pubkey"]
    assert "b033" not in repr(keys)


def test_entry_keys_differ_by_network_entry_and_seed() -> None:
    keys = {derive_entry_keys(SEED, network, ENTRY).secret for network in NETWORK_MAGIC} | {
        derive_entry_keys(SEED, "regtest", uuid.uuid4()).secret
    }
    keys.add(derive_entry_keys(bytes(32), "regtest", ENTRY).secret)
    assert len(keys) == len(NETWORK_MAGIC) + 2
    with pytest.raises(ValueError, match="32 bytes"):
        derive_entry_keys(b"short", "regtest", ENTRY)


def test_seed_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "player.json"
    identity = create_identity(path, "regtest")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_identity(path) == identity
    assert load_or_create_identity(path, "regtest") == identity
    assert identity.npub.startswith("npub1") and identity.nostr_secret.hex() not in repr(identity)
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        create_identity(path, "regtest")
    with pytest.raises(ConfigError, match="regtest seed, not signet"):
        load_or_create_identity(path, "signet")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="accessible to others"):
        load_identity(path)


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"network": "moon"},
        {"nostr_secret": "00" * 32},
        {"wallet_seed": "zz" * 32},
        {"wallet_seed": "00" * 31},
    ],
)
def test_bad_seed_files_are_refused(tmp_path: Path, change: dict[str, object]) -> None:
    path = tmp_path / "player.json"
    data = create_identity(path, "regtest").to_json() | change
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="invalid player seed file"):
        load_identity(path)
