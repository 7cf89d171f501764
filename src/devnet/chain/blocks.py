"""Regtest block assembly: coinbase (BIP34 height, BIP141 commitment), merkle root, PoW."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from devnet.chain.model import ChainTx
from ticketdlc.bitcoin.encoding import compact_size, sha256d
from ticketdlc.bitcoin.script import OP_0, OP_RETURN, push_int
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut

REGTEST_BITS: Final = 0x207FFFFF
BLOCK_VERSION: Final = 0x20000000
COIN: Final = 100_000_000
REGTEST_HALVING_INTERVAL: Final = 150
COINBASE_MATURITY: Final = 100
MAX_BLOCK_WEIGHT: Final = 4_000_000
WITNESS_COMMITMENT_HEADER: Final = bytes.fromhex("aa21a9ed")
WITNESS_RESERVED_VALUE: Final = bytes(32)
NULL_OUTPOINT: Final = OutPoint(bytes(32), 0xFFFF_FFFF)


def block_subsidy(height: int) -> int:
    """New coins a block at ``height`` may create on regtest (halving every 150 blocks)."""
    halvings = height // REGTEST_HALVING_INTERVAL
    return 0 if halvings >= 64 else (50 * COIN) >> halvings


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    """Bitcoin merkle root of 32-byte hashes (the last one is paired with itself if odd)."""
    if not hashes:
        raise ValueError("a merkle tree needs at least one leaf")
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def merkle_branch(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf ``index`` up to the root (deepest first)."""
    if not 0 <= index < len(hashes):
        raise IndexError("leaf index out of range")
    branch: list[bytes] = []
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        branch.append(level[index ^ 1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        index //= 2
    return branch


def witness_commitment_script(transactions: Sequence[ChainTx]) -> bytes:
    """BIP141 commitment output script for a block whose non-coinbase txs are ``transactions``."""
    root = merkle_root([bytes(32), *(tx.wtxid for tx in transactions)])
    commitment = sha256d(root + WITNESS_RESERVED_VALUE)
    return bytes((OP_RETURN, 36)) + WITNESS_COMMITMENT_HEADER + commitment


def coinbase_transaction(
    height: int, script_pubkey: bytes, value: int, transactions: Sequence[ChainTx]
) -> Transaction:
    """Coinbase paying ``value`` to ``script_pubkey``, committing to ``transactions``' witnesses."""
    script_sig = push_int(height) + bytes((OP_0,))  # BIP34 height, then an extra byte: 2..100 B
    txin = TxIn(NULL_OUTPOINT, script_sig, 0xFFFF_FFFF, (WITNESS_RESERVED_VALUE,))
    outputs = [
        TxOut(value, script_pubkey),
        TxOut(0, witness_commitment_script(transactions)),
    ]
    return Transaction(2, [txin], outputs, 0)


@dataclass(frozen=True)
class BlockTemplate:
    """Everything a block needs except its nonce."""

    prev_hash: bytes  # internal byte order
    height: int
    time: int
    transactions: Sequence[ChainTx]  # coinbase first


def _header(prev_hash: bytes, root: bytes, time: int, nonce: int) -> bytes:
    return (
        BLOCK_VERSION.to_bytes(4, "little")
        + prev_hash
        + root
        + time.to_bytes(4, "little")
        + REGTEST_BITS.to_bytes(4, "little")
        + nonce.to_bytes(4, "little")
    )


def target_from_bits(bits: int) -> int:
    """Proof-of-work target encoded by compact ``bits``."""
    return (bits & 0x007FFFFF) << (8 * ((bits >> 24) - 3))


def solve(template: BlockTemplate) -> bytes:
    """Grind a nonce for regtest difficulty and return the serialized block."""
    root = merkle_root([tx.txid for tx in template.transactions])
    target = target_from_bits(REGTEST_BITS)
    for nonce in range(2**32):
        header = _header(template.prev_hash, root, template.time, nonce)
        if int.from_bytes(sha256d(header), "little") <= target:
            body = b"".join(tx.raw for tx in template.transactions)
            return header + compact_size(len(template.transactions)) + body
    raise RuntimeError("no nonce satisfies the regtest target")  # pragma: no cover


def block_hash(header: bytes) -> bytes:
    """Block hash (internal byte order) of an 80-byte header."""
    return sha256d(header[:80])
