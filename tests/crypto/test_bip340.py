"""BIP-340 signing and verification against the official vectors, and the deterministic variant."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ticketdlc.crypto import bip340


def load_vectors(vectors_dir: Path) -> list[dict[str, str]]:
    with (vectors_dir / "bip340" / "test-vectors.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_official_vectors(vectors_dir: Path) -> None:
    rows = load_vectors(vectors_dir)
    assert len(rows) >= 19
    for row in rows:
        pubkey = bytes.fromhex(row["public key"])
        msg = bytes.fromhex(row["message"])
        sig = bytes.fromhex(row["signature"])
        expected = row["verification result"] == "TRUE"
        if row["secret key"]:
            secret = bytes.fromhex(row["secret key"])
            assert bip340.xonly_pubkey(secret) == pubkey, row["index"]
            produced = bip340.sign(secret, msg, bytes.fromhex(row["aux_rand"]))
            assert produced == sig, row["index"]
        assert bip340.verify(pubkey, msg, sig) is expected, row["index"]


def test_rfc6979_nonce_derivation() -> None:
    # RFC 6979 A.2.5 (these nonces are also < n of secp256k1, as the musig2 crate's tests use).
    secret = bytes.fromhex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")
    assert bip340.rfc6979_aux(secret, b"sample").hex().upper() == (
        "A6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60"
    )
    assert bip340.rfc6979_aux(secret, b"test").hex().upper() == (
        "D16B6AE827F17175E040871A1C7EC3500192C4C92677336EC2537ACAEE0008E0"
    )


def test_deterministic_sign_is_reproducible_and_valid() -> None:
    secret = bytes.fromhex("0B432B2677937381AEF05BB02A66ECD012773062CF3FA2549E44F58ED2401710")
    msg = bytes(range(32))
    first = bip340.sign_deterministic(secret, msg)
    assert first == bip340.sign_deterministic(secret, msg)
    assert first == bip340.sign(secret, msg, bip340.rfc6979_aux(secret, msg))
    assert bip340.verify(bip340.xonly_pubkey(secret), msg, first)
    assert bip340.sign_deterministic(secret, bytes(32)) != first


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match="out of range"):
        bip340.sign(bytes(32), bytes(32), bytes(32))
    with pytest.raises(ValueError, match="aux_rand"):
        bip340.sign(b"\x01" * 32, bytes(32), bytes(31))
    assert not bip340.verify(bytes(31), bytes(32), bytes(64))
    assert not bip340.verify(bytes(32), bytes(32), bytes(63))
