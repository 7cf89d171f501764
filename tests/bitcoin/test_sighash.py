"""BIP-341 signature hashes and key-path signing against the official wallet vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ticketdlc.bitcoin.sighash import SighashCache, SighashError, taproot_sighash
from ticketdlc.bitcoin.taproot import tweak_secret_key
from ticketdlc.bitcoin.tx import Transaction, TxOut
from ticketdlc.crypto import bip340


def key_path_vectors(vectors_dir: Path) -> list[dict[str, Any]]:
    data = json.loads((vectors_dir / "bip341" / "wallet-test-vectors.json").read_text())
    return list(data["keyPathSpending"])


def spent_outputs(case: dict[str, Any]) -> list[TxOut]:
    return [
        TxOut(u["amountSats"], bytes.fromhex(u["scriptPubKey"]))
        for u in case["given"]["utxosSpent"]
    ]


def test_precomputed_hashes(vectors_dir: Path) -> None:
    for case in key_path_vectors(vectors_dir):
        tx = Transaction.from_hex(case["given"]["rawUnsignedTx"])
        cache = SighashCache(tx, spent_outputs(case))
        expected = case["intermediary"]
        assert cache.sha_amounts.hex() == expected["hashAmounts"]
        assert cache.sha_outputs.hex() == expected["hashOutputs"]
        assert cache.sha_prevouts.hex() == expected["hashPrevouts"]
        assert cache.sha_scriptpubkeys.hex() == expected["hashScriptPubkeys"]
        assert cache.sha_sequences.hex() == expected["hashSequences"]


def test_key_path_sigmsg_sighash_and_witness(vectors_dir: Path) -> None:
    checked = 0
    for case in key_path_vectors(vectors_dir):
        tx = Transaction.from_hex(case["given"]["rawUnsignedTx"])
        spent = spent_outputs(case)
        cache = SighashCache(tx, spent)
        for spend in case["inputSpending"]:
            given, inter = spend["given"], spend["intermediary"]
            index, hash_type = given["txinIndex"], given["hashType"]
            assert cache.taproot_sigmsg(index, hash_type).hex() == inter["sigMsg"]
            sighash = cache.taproot(index, hash_type)
            assert sighash.hex() == inter["sigHash"]
            assert taproot_sighash(tx, index, spent, hash_type) == sighash
            root = bytes.fromhex(given["merkleRoot"]) if given["merkleRoot"] else None
            secret = tweak_secret_key(bytes.fromhex(given["internalPrivkey"]), root)
            assert secret.hex() == inter["tweakedPrivkey"]
            sig = bip340.sign(secret, sighash, bytes(32))
            if hash_type:
                sig += bytes((hash_type,))
            assert [sig.hex()] == spend["expected"]["witness"]
            checked += 1
    assert checked == 7


def test_invalid_requests(vectors_dir: Path) -> None:
    case = key_path_vectors(vectors_dir)[0]
    tx = Transaction.from_hex(case["given"]["rawUnsignedTx"])
    cache = SighashCache(tx, spent_outputs(case))
    with pytest.raises(SighashError):
        cache.taproot(0, 0x04)
    with pytest.raises(SighashError):
        cache.taproot(len(tx.inputs))
    with pytest.raises(SighashError):
        cache.taproot(5, 0x03)  # SIGHASH_SINGLE with no output 5
    with pytest.raises(SighashError):
        cache.taproot(0, annex=b"\x51")
    with pytest.raises(SighashError):
        SighashCache(tx, spent_outputs(case)[:-1])
    with pytest.raises(SighashError):
        SighashCache(tx).taproot(0)
