"""MuSig2 and adaptor signatures spent on-chain: Bitcoin Core's interpreter must accept them."""

from __future__ import annotations

import hashlib
import os

from tests.bitcoin.kernel import verify_all_inputs
from tests.crypto.signers import make_signers, run_session
from ticketdlc.bitcoin.script import OP_CHECKSIG, OP_EQUALVERIFY, OP_SHA256, p2tr_script, push_data
from ticketdlc.bitcoin.sighash import SighashCache
from ticketdlc.bitcoin.taproot import TaprootSpendInfo, leaf_hash
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from ticketdlc.crypto import adaptor, musig2


def spend_template(spent: TxOut, sequence: int = 0xFFFFFFFE) -> Transaction:
    return Transaction(
        2,
        [TxIn(OutPoint(os.urandom(32), 0), sequence=sequence)],
        [TxOut(spent.value - 500, p2tr_script(os.urandom(32)))],
    )


def flip(sig: bytes) -> bytes:
    return sig[:-1] + bytes((sig[-1] ^ 1,))


def test_untweaked_aggregate_key_path_with_adapted_signature() -> None:
    """The dlctix funding output: the raw aggregate key is the output key; outcome tx adapted."""
    signers = make_signers(4)
    pubkeys = musig2.key_sort([s.pk for s in signers])
    output_key = musig2.get_xonly_pk(musig2.key_agg(pubkeys))
    spent = [TxOut(300_000, p2tr_script(output_key))]
    tx = spend_template(spent[0])
    sighash = SighashCache(tx, spent).taproot(0)
    secret = os.urandom(31).rjust(32, b"\x00")
    point = adaptor.solo_adaptor_point(secret)
    pre, _ = run_session(signers, sighash, adaptor_point=point)
    # The pre-signature as a witness is rejected; the adapted signature is accepted.
    assert not verify_all_inputs(tx.with_witness(0, [pre[1:]]), spent)
    final = adaptor.adapt(pre, secret)
    assert verify_all_inputs(tx.with_witness(0, [final]), spent)
    assert not verify_all_inputs(tx.with_witness(0, [flip(final)]), spent)


def test_tweaked_aggregate_key_path_and_script_path() -> None:
    """An outcome output: MuSig2 key path under the tweaked key, split leaf under the raw key."""
    signers = make_signers(3)
    pubkeys = musig2.key_sort([s.pk for s in signers])
    internal = musig2.get_xonly_pk(musig2.key_agg(pubkeys))
    preimage = os.urandom(32)
    split_leaf = (
        bytes((OP_SHA256,))
        + push_data(hashlib.sha256(preimage).digest())
        + bytes((OP_EQUALVERIFY,))
        + push_data(internal)
        + bytes((OP_CHECKSIG,))
    )
    other_leaf = push_data(os.urandom(32)) + bytes((OP_CHECKSIG,))
    info = TaprootSpendInfo.from_huffman(internal, [(1, split_leaf), (2**32 - 1, other_leaf)])
    spent = [TxOut(100_000, info.script_pubkey)]

    # Key path: the context tweaked with the merkle root.
    tx = spend_template(spent[0])
    sighash = SighashCache(tx, spent).taproot(0)
    tweak = info.tweak().to_bytes(32, "big")
    sig, _ = run_session(signers, sighash, [tweak], [True])
    assert verify_all_inputs(tx.with_witness(0, [sig]), spent)
    assert not verify_all_inputs(tx.with_witness(0, [flip(sig)]), spent)

    # Script path: the untweaked context signs the script-path sighash of the split leaf.
    tx = spend_template(spent[0], sequence=432)
    sighash = SighashCache(tx, spent).taproot(0, leaf_hash=leaf_hash(split_leaf))
    sig, _ = run_session(signers, sighash)
    witness = [sig, preimage, split_leaf, info.control_block(split_leaf)]
    assert verify_all_inputs(tx.with_witness(0, witness), spent)
    assert not verify_all_inputs(tx.with_witness(0, [flip(sig), *witness[1:]]), spent)


def test_adapted_signature_under_tweaked_key() -> None:
    signers = make_signers(2)
    pubkeys = musig2.key_sort([s.pk for s in signers])
    internal = musig2.get_xonly_pk(musig2.key_agg(pubkeys))
    info = TaprootSpendInfo.key_only(internal)
    spent = [TxOut(50_000, info.script_pubkey)]
    tx = spend_template(spent[0])
    sighash = SighashCache(tx, spent).taproot(0)
    secret = os.urandom(32)
    point = adaptor.solo_adaptor_point(secret)
    pre, _ = run_session(
        signers, sighash, [info.tweak().to_bytes(32, "big")], [True], adaptor_point=point
    )
    assert verify_all_inputs(tx.with_witness(0, [adaptor.adapt(pre, secret)]), spent)
