"""Verification of many BIP-340 and adaptor signatures at once, with blame.

Each row is checked with the exact single-signature equation, which is what the aggregated
batch equation of the musig2 crate (dlctix §8.2 step 6) accepts, except that failures are
attributed to rows. libsecp256k1's public API has no multi-scalar multiplication, so an
aggregated equation built from separate multiplications is slower than libsecp256k1's own
per-signature verification; the speed-up comes from spreading rows over threads instead
(cffi releases the GIL during every libsecp256k1 call).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypeAlias

from ticketdlc.crypto import adaptor, bip340
from ticketdlc.crypto.secp import Point

SchnorrRow: TypeAlias = tuple[bytes, bytes, bytes]
"""``(x-only pubkey, message, 64-byte BIP-340 signature)``."""

AdaptorRow: TypeAlias = tuple[bytes, bytes, bytes, "Point | bytes | None"]
"""``(x-only pubkey, message, 65-byte adaptor signature, adaptor point)``."""

Row: TypeAlias = SchnorrRow | AdaptorRow

PARALLEL_THRESHOLD: Final = 512
_CHUNKS_PER_WORKER: Final = 4


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Outcome of a batch: ``failed`` lists the indices of invalid rows, in order."""

    failed: tuple[int, ...]

    @property
    def ok(self) -> bool:
        """True if every row verified."""
        return not self.failed


def verify_row(row: Row) -> bool:
    """Verify one row (a BIP-340 signature, or an adaptor signature with its point)."""
    if len(row) == 3:
        pubkey, msg, signature = row
        return bip340.verify(pubkey, msg, signature)
    if len(row) == 4:
        pubkey, msg, signature, point = row
        return adaptor.verify(pubkey, msg, signature, point)
    raise ValueError("a row is (pubkey, msg, sig) or (pubkey, msg, adaptor_sig, adaptor_point)")


def _verify_chunk(rows: Sequence[Row], offset: int) -> list[int]:
    return [offset + i for i, row in enumerate(rows) if not verify_row(row)]


def default_workers() -> int:
    """Worker threads used for large batches: one per CPU, at least one."""
    return max(1, os.cpu_count() or 1)


def verify_batch(
    rows: Sequence[Row], *, workers: int | None = None, executor: Executor | None = None
) -> BatchResult:
    """Verify every row; returns which rows failed.

    Batches of at least ``PARALLEL_THRESHOLD`` rows are split over ``workers`` threads (default:
    one per CPU), or over ``executor`` if one is given (a process pool works too: rows are plain
    bytes).
    """
    rows = list(rows)
    if not rows:
        return BatchResult(())
    count = workers if workers is not None else default_workers()
    if executor is None and (count <= 1 or len(rows) < PARALLEL_THRESHOLD):
        return BatchResult(tuple(_verify_chunk(rows, 0)))
    pieces = max(1, count) * _CHUNKS_PER_WORKER
    size = -(-len(rows) // pieces)
    chunks = [(rows[i : i + size], i) for i in range(0, len(rows), size)]
    if executor is not None:
        results = list(executor.map(_verify_chunk, *zip(*chunks, strict=True)))
    else:
        with ThreadPoolExecutor(max_workers=count) as pool:
            results = list(pool.map(_verify_chunk, *zip(*chunks, strict=True)))
    return BatchResult(tuple(index for chunk in results for index in chunk))
