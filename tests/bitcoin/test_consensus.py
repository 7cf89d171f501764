"""Spends built with this layer, checked by Bitcoin Core's script interpreter (py-bitcoinkernel)."""

from __future__ import annotations

import hashlib
import random

import pytest
from coincurve import PrivateKey

from tests.bitcoin.kernel import verify_all_inputs, verify_input
from ticketdlc.bitcoin.encoding import hash160
from ticketdlc.bitcoin.script import (
    OP_CHECKSEQUENCEVERIFY,
    OP_CHECKSIG,
    OP_DROP,
    OP_EQUALVERIFY,
    OP_SHA256,
    p2wpkh_script,
    p2wpkh_script_code,
    p2wsh_script,
    push_data,
    push_int,
)
from ticketdlc.bitcoin.sighash import SighashCache
from ticketdlc.bitcoin.taproot import TaprootSpendInfo, leaf_hash, tweak_secret_key
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from ticketdlc.crypto import bip340

RNG = random.Random(341)
TAPROOT_HASH_TYPES = [0x00, 0x01, 0x02, 0x03, 0x81, 0x82, 0x83]


def secret() -> bytes:
    return RNG.randbytes(32)


def outpoint() -> OutPoint:
    return OutPoint(RNG.randbytes(32), RNG.randrange(4))


def flip_bit(data: bytes, index: int = 5) -> bytes:
    return data[:index] + bytes((data[index] ^ 1,)) + data[index + 1 :]


def taproot_sig(secret_key: bytes, sighash: bytes, hash_type: int) -> bytes:
    sig = bip340.sign(secret_key, sighash, RNG.randbytes(32))
    return sig if hash_type == 0 else sig + bytes((hash_type,))


def test_key_path_every_hash_type_with_annex_and_segwit_v0() -> None:
    keys = [secret() for _ in TAPROOT_HASH_TYPES]
    infos = [TaprootSpendInfo.key_only(bip340.xonly_pubkey(k)) for k in keys]
    spent = [TxOut(10_000 + i, info.script_pubkey) for i, info in enumerate(infos)]
    wpkh_key = PrivateKey(secret())
    wpkh_hash = hash160(wpkh_key.public_key.format())
    spent.append(TxOut(50_000, p2wpkh_script(wpkh_hash)))
    wsh_key = PrivateKey(secret())
    witness_script = push_data(wsh_key.public_key.format()) + bytes((OP_CHECKSIG,))
    spent.append(TxOut(60_000, p2wsh_script(witness_script)))
    n_inputs = len(spent)
    tx = Transaction(
        2,
        [TxIn(outpoint(), sequence=0xFFFFFFFD - i) for i in range(n_inputs)],
        [TxOut(1000 + i, b"\x51\x20" + bytes([i]) * 32) for i in range(n_inputs)],
        locktime=77,
    )
    cache = SighashCache(tx, spent)
    annex = b"\x50" + b"annex data"
    witnesses: list[list[bytes]] = []
    for i, (key, info, hash_type) in enumerate(zip(keys, infos, TAPROOT_HASH_TYPES, strict=True)):
        use_annex = i == 2
        sighash = cache.taproot(i, hash_type, annex=annex if use_annex else None)
        tweaked = tweak_secret_key(key, info.merkle_root)
        witness = [taproot_sig(tweaked, sighash, hash_type)]
        witnesses.append([*witness, annex] if use_annex else witness)
    wpkh_index = len(keys)
    wpkh_sighash = cache.segwit_v0(wpkh_index, p2wpkh_script_code(wpkh_hash), 50_000, 0x01)
    wpkh_sig = wpkh_key.sign(wpkh_sighash, hasher=None) + b"\x01"
    witnesses.append([wpkh_sig, wpkh_key.public_key.format()])
    wsh_sighash = cache.segwit_v0(wpkh_index + 1, witness_script, 60_000, 0x83)
    witnesses.append([wsh_key.sign(wsh_sighash, hasher=None) + b"\x83", witness_script])

    signed = tx
    for i, witness in enumerate(witnesses):
        signed = signed.with_witness(i, witness)
    assert Transaction.parse(signed.serialize()) == signed
    assert verify_all_inputs(signed, spent)

    # Tampering: a flipped signature bit, a wrong amount, a dropped annex.
    for i in range(n_inputs):
        bad = list(signed.inputs[i].witness)
        bad[0] = flip_bit(bad[0])
        assert not verify_input(signed.with_witness(i, bad), i, spent)
    wrong_amounts = [TxOut(o.value + 1, o.script_pubkey) for o in spent]
    assert not verify_input(signed, 0, wrong_amounts)
    assert not verify_input(signed, wpkh_index, wrong_amounts)
    assert not verify_input(signed.with_witness(2, witnesses[2][:1]), 2, spent)


def test_sighash_single_and_none_leave_outputs_free() -> None:
    key = secret()
    info = TaprootSpendInfo.key_only(bip340.xonly_pubkey(key))
    spent = [TxOut(20_000, info.script_pubkey)]
    tx = Transaction(2, [TxIn(outpoint())], [TxOut(15_000, b"\x51\x20" + bytes(32))])
    for hash_type in (0x02, 0x82):  # NONE: outputs may change after signing
        sighash = SighashCache(tx, spent).taproot(0, hash_type)
        sig = taproot_sig(tweak_secret_key(key, None), sighash, hash_type)
        changed = Transaction(2, tx.inputs, [TxOut(1, b"\x6a")], 0).with_witness(0, [sig])
        assert verify_all_inputs(changed, spent)
    sighash = SighashCache(tx, spent).taproot(0, 0x01)
    sig = taproot_sig(tweak_secret_key(key, None), sighash, 0x01)
    changed = Transaction(2, tx.inputs, [TxOut(1, b"\x6a")], 0).with_witness(0, [sig])
    assert not verify_all_inputs(changed, spent)


def test_script_path_spends_with_csv_and_hashlock() -> None:
    internal = secret()
    key_a, key_b = secret(), secret()
    preimage = RNG.randbytes(32)
    delta = 144
    leaf_hashlock = (
        bytes((OP_SHA256,))
        + push_data(hashlib.sha256(preimage).digest())
        + bytes((OP_EQUALVERIFY,))
        + push_data(bip340.xonly_pubkey(key_a))
        + bytes((OP_CHECKSIG,))
    )
    leaf_timelock = (
        push_int(delta)
        + bytes((OP_CHECKSEQUENCEVERIFY, OP_DROP))
        + push_data(bip340.xonly_pubkey(key_b))
        + bytes((OP_CHECKSIG,))
    )
    leaf_other = push_data(bip340.xonly_pubkey(secret())) + bytes((OP_CHECKSIG,))
    info = TaprootSpendInfo.from_huffman(
        bip340.xonly_pubkey(internal), [(1, leaf_hashlock), (1, leaf_timelock), (2, leaf_other)]
    )
    spent = [TxOut(30_000, info.script_pubkey)]

    def spend(sequence: int, leaf: bytes, signer: bytes, extra: list[bytes]) -> Transaction:
        tx = Transaction(
            2, [TxIn(outpoint(), sequence=sequence)], [TxOut(29_000, b"\x51\x20" + bytes(32))]
        )
        sighash = SighashCache(tx, spent).taproot(0, leaf_hash=leaf_hash(leaf))
        sig = bip340.sign_deterministic(signer, sighash)
        return tx.with_witness(0, [sig, *extra, leaf, info.control_block(leaf)])

    assert verify_all_inputs(spend(0, leaf_hashlock, key_a, [preimage]), spent)
    assert not verify_all_inputs(spend(0, leaf_hashlock, key_a, [flip_bit(preimage)]), spent)
    assert not verify_all_inputs(spend(0, leaf_hashlock, key_b, [preimage]), spent)
    assert verify_all_inputs(spend(delta, leaf_timelock, key_b, []), spent)
    assert not verify_all_inputs(spend(delta - 1, leaf_timelock, key_b, []), spent)
    # The key path of the same output, with the tweak over the merkle root.
    tx = Transaction(2, [TxIn(outpoint())], [TxOut(29_000, b"\x51\x20" + bytes(32))])
    sighash = SighashCache(tx, spent).taproot(0)
    sig = bip340.sign_deterministic(tweak_secret_key(internal, info.merkle_root), sighash)
    assert verify_all_inputs(tx.with_witness(0, [sig]), spent)
    assert not verify_all_inputs(tx.with_witness(0, [flip_bit(sig, 40)]), spent)


@pytest.mark.parametrize("hash_type", [0x01, 0x02, 0x03, 0x81, 0x82, 0x83])
def test_segwit_v0_hash_types(hash_type: int) -> None:
    key = PrivateKey(secret())
    pubkey_hash = hash160(key.public_key.format())
    spent = [TxOut(40_000, p2wpkh_script(pubkey_hash)), TxOut(5_000, p2wpkh_script(pubkey_hash))]
    tx = Transaction(
        1,
        [TxIn(outpoint(), sequence=5), TxIn(outpoint(), sequence=6)],
        [TxOut(39_000, p2wpkh_script(bytes(20)))],
    )
    cache = SighashCache(tx)
    signed = tx
    for i in range(2):
        sighash = cache.segwit_v0(i, p2wpkh_script_code(pubkey_hash), spent[i].value, hash_type)
        sig = key.sign(sighash, hasher=None) + bytes((hash_type,))
        signed = signed.with_witness(i, [sig, key.public_key.format()])
    # SIGHASH_SINGLE on input 1 without output 1 signs the zero hashOutputs (BIP-143).
    assert verify_all_inputs(signed, spent)
    assert not verify_all_inputs(signed, [spent[0], TxOut(5_001, spent[1].script_pubkey)])
