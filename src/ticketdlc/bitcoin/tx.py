"""Bitcoin transactions: immutable data classes, (de)serialization, txid/wtxid and weight."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from ticketdlc.bitcoin.encoding import (
    ByteReader,
    DecodeError,
    compact_size,
    is_hex,
    ser_bytes,
    sha256d,
)
from ticketdlc.typed_bytes import Txid

SEQUENCE_FINAL: Final = 0xFFFF_FFFF
SEQUENCE_LOCKTIME_ENABLED: Final = 0xFFFF_FFFE  # enables nLockTime, no RBF signal
MAX_MONEY: Final = 21_000_000 * 100_000_000
MAX_TX_SIZE: Final = 4_000_000  # a transaction never exceeds the block weight limit in bytes
_MIN_INPUT_SIZE: Final = 41  # outpoint 36 + empty script 1 + sequence 4
_MIN_OUTPUT_SIZE: Final = 9  # value 8 + empty script 1


@dataclass(frozen=True, slots=True)
class OutPoint:
    """A reference to a transaction output; ``txid`` is in internal (little-endian) byte order."""

    txid: bytes
    vout: int

    def __post_init__(self) -> None:
        if not isinstance(self.txid, bytes) or len(self.txid) != 32:
            raise ValueError("txid is 32 bytes")
        if not 0 <= self.vout <= 0xFFFF_FFFF:
            raise ValueError("vout out of range")

    @classmethod
    def from_display(cls, txid_hex: str, vout: int) -> OutPoint:
        """From a txid in display (big-endian hex) order."""
        return cls(_display_hex_to_bytes(txid_hex), vout)

    @classmethod
    def parse(cls, text: str) -> OutPoint:
        """Parse ``"<display txid hex>:<vout>"``."""
        txid_hex, sep, vout_text = text.partition(":")
        if not sep or not vout_text.isdigit() or len(vout_text) > 10:
            raise ValueError("outpoint must be '<txid>:<vout>'")
        return cls.from_display(txid_hex, int(vout_text))

    @property
    def txid_hex(self) -> Txid:
        """Txid in display order (as block explorers and RPCs show it)."""
        return Txid(self.txid[::-1].hex())

    def serialize(self) -> bytes:
        """36-byte wire encoding."""
        return self.txid + self.vout.to_bytes(4, "little")

    def __str__(self) -> str:
        return f"{self.txid_hex}:{self.vout}"


def _display_hex_to_bytes(txid_hex: str) -> bytes:
    if not is_hex(txid_hex, 32):
        raise ValueError("txid is 64 hex characters")
    return bytes.fromhex(txid_hex)[::-1]


@dataclass(frozen=True, slots=True)
class TxIn:
    """A transaction input. ``witness`` is stored as a tuple."""

    prevout: OutPoint
    script_sig: bytes = b""
    sequence: int = SEQUENCE_FINAL
    witness: Sequence[bytes] = field(default=())

    def __post_init__(self) -> None:
        if not 0 <= self.sequence <= 0xFFFF_FFFF:
            raise ValueError("sequence out of range")
        object.__setattr__(self, "script_sig", bytes(self.script_sig))
        object.__setattr__(self, "witness", tuple(bytes(item) for item in self.witness))

    def with_witness(self, witness: Sequence[bytes]) -> TxIn:
        """A copy with the given witness stack."""
        return dataclasses.replace(self, witness=tuple(witness))

    def serialize(self) -> bytes:
        """Wire encoding without the witness."""
        return (
            self.prevout.serialize()
            + ser_bytes(self.script_sig)
            + self.sequence.to_bytes(4, "little")
        )


@dataclass(frozen=True, slots=True)
class TxOut:
    """A transaction output."""

    value: int
    script_pubkey: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.value <= MAX_MONEY:
            raise ValueError("output value out of range")
        object.__setattr__(self, "script_pubkey", bytes(self.script_pubkey))

    def serialize(self) -> bytes:
        """Wire encoding (value and length-prefixed scriptPubKey)."""
        return self.value.to_bytes(8, "little") + ser_bytes(self.script_pubkey)


@dataclass(frozen=True, slots=True)
class Transaction:
    """A transaction; ``inputs`` and ``outputs`` are stored as tuples."""

    version: int
    inputs: Sequence[TxIn]
    outputs: Sequence[TxOut]
    locktime: int = 0

    def __post_init__(self) -> None:
        if not -(2**31) <= self.version < 2**32:
            raise ValueError("version out of range")
        if not 0 <= self.locktime <= 0xFFFF_FFFF:
            raise ValueError("locktime out of range")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))

    # -- derived copies ------------------------------------------------------------------

    def with_witness(self, index: int, witness: Sequence[bytes]) -> Transaction:
        """A copy whose input ``index`` carries ``witness``."""
        inputs = list(self.inputs)
        inputs[index] = inputs[index].with_witness(witness)
        return dataclasses.replace(self, inputs=tuple(inputs))

    def without_witnesses(self) -> Transaction:
        """A copy with every witness stack emptied."""
        return dataclasses.replace(self, inputs=tuple(i.with_witness(()) for i in self.inputs))

    # -- encoding ------------------------------------------------------------------------

    def has_witness(self) -> bool:
        """True if any input carries a non-empty witness."""
        return any(txin.witness for txin in self.inputs)

    def serialize(self, include_witness: bool = True) -> bytes:
        """Wire encoding; the segwit form is used only if a witness is present and wanted."""
        segwit = include_witness and self.has_witness()
        parts = [(self.version % 2**32).to_bytes(4, "little")]
        if segwit:
            parts.append(b"\x00\x01")
        parts.append(compact_size(len(self.inputs)))
        parts.extend(txin.serialize() for txin in self.inputs)
        parts.append(compact_size(len(self.outputs)))
        parts.extend(txout.serialize() for txout in self.outputs)
        if segwit:
            for txin in self.inputs:
                parts.append(compact_size(len(txin.witness)))
                parts.extend(ser_bytes(item) for item in txin.witness)
        parts.append(self.locktime.to_bytes(4, "little"))
        return b"".join(parts)

    @classmethod
    def parse(cls, raw: bytes) -> Transaction:
        """Strictly parse a serialized transaction (legacy or segwit).

        Rejects trailing bytes, counts larger than the data can hold, a segwit marker without
        any witness, unknown flags and transactions without inputs.
        """
        if len(raw) > MAX_TX_SIZE:
            raise DecodeError("transaction too large")
        reader = ByteReader(raw)
        version = int.from_bytes(reader.read(4), "little", signed=True)
        segwit = False
        if reader.peek(1) == b"\x00":
            reader.read(1)
            flag = reader.read(1)[0]
            if flag != 1:
                raise DecodeError("unknown segwit flag or transaction without inputs")
            segwit = True
        n_in = reader.read_compact_size()
        if n_in == 0:
            raise DecodeError("transaction without inputs")
        if n_in * _MIN_INPUT_SIZE > reader.remaining:
            raise DecodeError("input count exceeds data")
        prevouts: list[tuple[OutPoint, bytes, int]] = []
        for _ in range(n_in):
            outpoint = OutPoint(reader.read(32), reader.read_uint(4))
            script_sig = reader.read_bytes()
            sequence = reader.read_uint(4)
            prevouts.append((outpoint, script_sig, sequence))
        n_out = reader.read_compact_size()
        if n_out * _MIN_OUTPUT_SIZE > reader.remaining:
            raise DecodeError("output count exceeds data")
        outputs = []
        for _ in range(n_out):
            value = reader.read_uint(8)
            if value > MAX_MONEY:
                raise DecodeError("output value out of range")
            outputs.append(TxOut(value, reader.read_bytes()))
        witnesses: list[tuple[bytes, ...]] = [()] * n_in
        if segwit:
            for index in range(n_in):
                n_items = reader.read_compact_size()
                if n_items > reader.remaining:
                    raise DecodeError("witness item count exceeds data")
                witnesses[index] = tuple(reader.read_bytes() for _ in range(n_items))
            if not any(witnesses):
                raise DecodeError("superfluous witness record")
        locktime = reader.read_uint(4)
        reader.expect_end()
        inputs = [
            TxIn(outpoint, script_sig, sequence, witness)
            for (outpoint, script_sig, sequence), witness in zip(prevouts, witnesses, strict=True)
        ]
        return cls(version, inputs, outputs, locktime)

    @classmethod
    def from_hex(cls, raw_hex: str) -> Transaction:
        """Parse a hex-encoded transaction."""
        if not is_hex(raw_hex):
            raise DecodeError("transaction is not hex")
        return cls.parse(bytes.fromhex(raw_hex))

    def hex(self) -> str:
        """Full (witness) serialization as hex."""
        return self.serialize().hex()

    # -- identifiers and size ------------------------------------------------------------

    def txid(self) -> bytes:
        """Txid in internal byte order."""
        return sha256d(self.serialize(include_witness=False))

    def wtxid(self) -> bytes:
        """Witness txid in internal byte order."""
        return sha256d(self.serialize(include_witness=True))

    def txid_hex(self) -> Txid:
        """Txid in display order."""
        return Txid(self.txid()[::-1].hex())

    def wtxid_hex(self) -> str:
        """Witness txid in display order."""
        return self.wtxid()[::-1].hex()

    def outpoint(self, vout: int) -> OutPoint:
        """The outpoint of this transaction's output ``vout``."""
        if not 0 <= vout < len(self.outputs):
            raise IndexError("no such output")
        return OutPoint(self.txid(), vout)

    def weight(self) -> int:
        """BIP-141 weight: 3 × stripped size + total size."""
        stripped = len(self.serialize(include_witness=False))
        total = len(self.serialize(include_witness=True))
        return 3 * stripped + total

    def vsize(self) -> int:
        """Virtual size in vbytes (weight / 4 rounded up)."""
        return (self.weight() + 3) // 4
