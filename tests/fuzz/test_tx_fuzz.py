"""The transaction parser against the wire format: valid transactions round-trip byte for byte;
mutated bytes are refused with :class:`DecodeError` or parse to exactly what they encode."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.budget import examples
from tests.fuzz.mutations import mutated_bytes, mutated_text
from ticketdlc.bitcoin.encoding import DecodeError
from ticketdlc.bitcoin.tx import MAX_MONEY, OutPoint, Transaction, TxIn, TxOut

u32 = st.integers(0, 2**32 - 1)
scripts = st.binary(max_size=80)
witness_items = st.lists(st.binary(max_size=80), max_size=4)
inputs = st.builds(
    TxIn,
    prevout=st.builds(OutPoint, st.binary(min_size=32, max_size=32), u32),
    script_sig=scripts,
    sequence=u32,
    witness=witness_items,
)
outputs = st.builds(TxOut, st.integers(0, MAX_MONEY), scripts)
transactions = st.builds(
    Transaction,
    version=st.integers(-(2**31), 2**31 - 1),
    inputs=st.lists(inputs, min_size=1, max_size=4),
    outputs=st.lists(outputs, max_size=4),
    locktime=u32,
)

#: A segwit transaction with two inputs (one without witness) and an OP_RETURN output.
SAMPLE = Transaction(
    2,
    [TxIn(OutPoint(b"\x11" * 32, 1), b"", 0xFFFFFFFD, [b"\x30" * 71, b"\x02" * 33]),
     TxIn(OutPoint(b"\x22" * 32, 0), b"\x51", 0)],
    [TxOut(50_000, b"\x51\x20" + b"\x33" * 32), TxOut(0, b"\x6a\x04test")],
    800_000,
)  # fmt: skip


@settings(max_examples=examples(150), deadline=None)
@given(tx=transactions)
def test_transactions_round_trip(tx: Transaction) -> None:
    raw = tx.serialize()
    parsed = Transaction.parse(raw)
    assert parsed == tx
    assert parsed.serialize() == raw
    assert Transaction.from_hex(raw.hex()) == tx
    assert Transaction.parse(tx.serialize(include_witness=False)) == tx.without_witnesses()


def _parse_or_refuse(raw: bytes) -> None:
    try:
        parsed = Transaction.parse(raw)
    except DecodeError:
        return
    assert parsed.serialize() == raw  # accepted only in its one canonical encoding


@settings(max_examples=examples(300), deadline=None)
@given(raw=st.one_of(mutated_bytes(SAMPLE.serialize()), st.binary(max_size=120)))
@example(raw=SAMPLE.serialize() + b"\x00")
@example(raw=bytes.fromhex("02000000") + b"\x00\x01" + b"\x00")
@example(raw=bytes.fromhex("02000000") + b"\xff" + b"\xff" * 8)
def test_mutated_transactions_are_refused_or_canonical(raw: bytes) -> None:
    _parse_or_refuse(raw)


@settings(max_examples=examples(100), deadline=None)
@given(mutated_tx=transactions.flatmap(lambda tx: mutated_bytes(tx.serialize())))
def test_mutations_of_random_transactions_are_refused_or_canonical(mutated_tx: bytes) -> None:
    _parse_or_refuse(mutated_tx)


@settings(max_examples=examples(100), deadline=None)
@given(text=mutated_text(SAMPLE.hex(), "0123456789abcdefABCDEF \n\tgx"))
@example(text=SAMPLE.hex() + "\n")
@example(text=" " + SAMPLE.hex())
def test_hex_transactions_are_whole_string_hex(text: str) -> None:
    try:
        parsed = Transaction.from_hex(text)
    except DecodeError:
        return
    assert parsed.hex() == text.lower()
