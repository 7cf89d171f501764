"""Transaction data classes, strict parsing, identifiers and weight."""

from __future__ import annotations

import json
from pathlib import Path

import pbk
import pytest

from ticketdlc.bitcoin.encoding import ByteReader, DecodeError, compact_size, compact_size_len
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut

# dlctix §12: outcome transaction att0 (no witness) and its funding outpoint.
OUTCOME_TX_ATT0 = (
    "02000000015a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a0100000000feffffff"
    "018a8f0400000000002251203fecc8c7960c4308d6e8c16d959c7d326b1413f7b60b732e92c5068b44c0cd1700000000"
)
# Its txid as the att0 split transaction of dlctix §12 spends it (internal byte order).
OUTCOME_TX_ATT0_TXID = "dde2061865d6be4316c8aa26d4b7b6b49fd1207a9aa7d7794c029a27f9c23565"
OUTCOME_TX_ATT0_TXID_DISPLAY = bytes.fromhex(OUTCOME_TX_ATT0_TXID)[::-1].hex()


def sample_segwit_tx() -> Transaction:
    inputs = [
        TxIn(OutPoint(bytes([i]) * 32, i), b"", 0xFFFFFFFD, [bytes(64 + i), b"\x01" * 33])
        for i in range(3)
    ]
    outputs = [TxOut(1000 * (i + 1), b"\x51\x20" + bytes([i]) * 32) for i in range(2)]
    return Transaction(2, inputs, outputs, 123)


def test_outpoint_formats() -> None:
    op = OutPoint(bytes.fromhex("5a" * 31 + "01"), 1)
    assert op.txid_hex == "01" + "5a" * 31
    assert str(op) == f"{'01' + '5a' * 31}:1"
    assert OutPoint.parse(str(op)) == op
    assert OutPoint.from_display(op.txid_hex, 1) == op
    assert op.serialize() == op.txid + b"\x01\x00\x00\x00"
    for bad in ["", "abc:1", f"{'00' * 32}", f"{'00' * 32}:-1", f"{'zz' * 32}:0", f"{'00' * 32}:x"]:
        with pytest.raises(ValueError, match=r"txid|outpoint"):
            OutPoint.parse(bad)
    with pytest.raises(ValueError, match="32 bytes"):
        OutPoint(bytes(31), 0)
    with pytest.raises(ValueError, match="vout"):
        OutPoint(bytes(32), 2**32)


def test_legacy_round_trip_and_txid() -> None:
    tx = Transaction.from_hex(OUTCOME_TX_ATT0)
    assert tx.version == 2 and tx.locktime == 0
    assert tx.inputs[0].prevout == OutPoint(bytes.fromhex("5a" * 32), 1)
    assert tx.inputs[0].sequence == 0xFFFFFFFE
    assert tx.outputs[0].value == 298890
    assert tx.serialize().hex() == OUTCOME_TX_ATT0
    assert tx.txid() == tx.wtxid()
    assert tx.txid().hex() == OUTCOME_TX_ATT0_TXID
    assert tx.txid_hex() == OUTCOME_TX_ATT0_TXID_DISPLAY
    assert tx.weight() == 4 * len(bytes.fromhex(OUTCOME_TX_ATT0))


def test_segwit_round_trip_txid_weight() -> None:
    built = sample_segwit_tx()
    raw = built.serialize()
    tx = Transaction.parse(raw)
    assert tx == built
    assert tx.serialize() == raw
    kernel_tx = pbk.Transaction(raw)  # Bitcoin Core's own parser and txid
    assert bytes(kernel_tx.txid) == tx.txid()
    assert tx.wtxid() != tx.txid()
    assert len(tx.inputs[0].witness) == 2 and len(tx.inputs[0].witness[0]) == 64
    stripped = len(tx.serialize(include_witness=False))
    total = len(raw)
    assert tx.weight() == 3 * stripped + total
    assert tx.vsize() == (tx.weight() + 3) // 4
    assert tx.without_witnesses().serialize() == tx.serialize(include_witness=False)
    assert tx.outpoint(1) == OutPoint(tx.txid(), 1)


def test_bip341_unsigned_tx_round_trip(vectors_dir: Path) -> None:
    data = json.loads((vectors_dir / "bip341" / "wallet-test-vectors.json").read_text())
    raw = data["keyPathSpending"][0]["given"]["rawUnsignedTx"]
    tx = Transaction.from_hex(raw)
    assert len(tx.inputs) == 9 and len(tx.outputs) == 2
    assert tx.hex() == raw


def test_with_witness_builds_segwit_form() -> None:
    tx = Transaction.from_hex(OUTCOME_TX_ATT0).with_witness(0, [b"\x01" * 64])
    raw = tx.serialize()
    assert raw[4:6] == b"\x00\x01"
    assert Transaction.parse(raw) == tx
    assert tx.txid() == Transaction.from_hex(OUTCOME_TX_ATT0).txid()


def test_immutability() -> None:
    txin = TxIn(OutPoint(bytes(32), 0), witness=[b"a"])
    assert txin.witness == (b"a",)
    with pytest.raises(AttributeError):
        txin.sequence = 1  # type: ignore[misc]
    tx = Transaction(2, [txin], [TxOut(1000, b"\x51")])
    assert isinstance(tx.inputs, tuple) and isinstance(tx.outputs, tuple)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda raw: raw + b"\x00",  # trailing byte
        lambda raw: raw[:-1],  # truncated
        lambda raw: raw[:4] + b"\x00\x02" + raw[4:],  # unknown segwit flag
        lambda raw: raw[:4] + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff" + raw[5:],  # huge count
        lambda raw: raw[:4] + b"\xfd\x01\x00" + raw[5:],  # non-canonical count
        lambda raw: raw[:4] + b"\x00" + raw[5:],  # no inputs
    ],
)
def test_strict_parse_rejects(mutate) -> None:  # type: ignore[no-untyped-def]
    raw = bytes.fromhex(OUTCOME_TX_ATT0)
    with pytest.raises(DecodeError):
        Transaction.parse(mutate(raw))


def test_superfluous_witness_rejected() -> None:
    raw = bytes.fromhex(OUTCOME_TX_ATT0)
    segwit_empty = raw[:4] + b"\x00\x01" + raw[4:-4] + b"\x00" + raw[-4:]
    with pytest.raises(DecodeError):
        Transaction.parse(segwit_empty)


def test_excessive_value_rejected() -> None:
    with pytest.raises(ValueError, match="value out of range"):
        TxOut(21_000_000 * 100_000_000 + 1, b"")


@pytest.mark.parametrize("value", [0, 1, 0xFC, 0xFD, 0xFFFF, 0x10000, 0xFFFFFFFF, 0x100000000])
def test_compact_size_round_trip(value: int) -> None:
    encoded = compact_size(value)
    assert len(encoded) == compact_size_len(value)
    reader = ByteReader(encoded)
    assert reader.read_compact_size() == value
    reader.expect_end()
