"""Value types shared by the devnet chain's modules."""

from __future__ import annotations

from dataclasses import dataclass

from ticketdlc.bitcoin.encoding import sha256d
from ticketdlc.bitcoin.tx import Transaction


@dataclass(frozen=True)
class ChainTx:
    """A parsed transaction with its serialization and identifiers computed once."""

    tx: Transaction
    raw: bytes
    txid: bytes  # internal byte order
    wtxid: bytes
    weight: int

    @classmethod
    def from_raw(cls, raw: bytes) -> ChainTx:
        """Parse ``raw`` (raises ``DecodeError``/``ValueError`` if malformed)."""
        return cls.from_tx(Transaction.parse(raw))

    @classmethod
    def from_tx(cls, tx: Transaction) -> ChainTx:
        raw = tx.serialize()
        stripped = tx.serialize(include_witness=False)
        return cls(
            tx=tx,
            raw=raw,
            txid=sha256d(stripped),
            wtxid=sha256d(raw),
            weight=3 * len(stripped) + len(raw),
        )

    @property
    def txid_hex(self) -> str:
        return self.txid[::-1].hex()

    @property
    def vsize(self) -> int:
        return (self.weight + 3) // 4

    @property
    def is_coinbase(self) -> bool:
        inputs = self.tx.inputs
        return (
            len(inputs) == 1
            and inputs[0].prevout.txid == bytes(32)
            and (inputs[0].prevout.vout == 0xFFFF_FFFF)
        )


@dataclass(frozen=True)
class Coin:
    """An output as a spender sees it."""

    value: int
    script_pubkey: bytes
    height: int  # height of the block that created it (tip + 1 for mempool outputs)
    is_coinbase: bool = False
    in_mempool: bool = False
