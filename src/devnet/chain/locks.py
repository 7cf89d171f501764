"""Transaction finality: absolute locktime (BIP113) and relative lock-times (BIP68).

The mempool checks a transaction against the *next* block, as Bitcoin Core does: height
``tip + 1`` and, for time locks, the median time past of the tip. Outputs still in the mempool
count as confirmed at ``tip + 1``. (BIP112's CHECKSEQUENCEVERIFY is enforced by the script
interpreter against the input's nSequence; BIP68 is what makes that nSequence binding.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

LOCKTIME_THRESHOLD = 500_000_000
SEQUENCE_FINAL = 0xFFFFFFFF
SEQUENCE_DISABLE_FLAG = 1 << 31
SEQUENCE_TYPE_FLAG = 1 << 22
SEQUENCE_MASK = 0x0000FFFF
SEQUENCE_GRANULARITY = 9


def is_final(locktime: int, sequences: Sequence[int], block_height: int, block_time: int) -> bool:
    """Bitcoin Core's ``IsFinalTx`` for a block at ``block_height`` with cut-off ``block_time``."""
    if locktime == 0:
        return True
    cutoff = block_height if locktime < LOCKTIME_THRESHOLD else block_time
    if locktime < cutoff:
        return True
    return all(sequence == SEQUENCE_FINAL for sequence in sequences)


def sequence_locks_satisfied(
    version: int,
    sequences: Sequence[int],
    coin_heights: Sequence[int],
    block_height: int,
    median_time_past: Callable[[int], int],
) -> bool:
    """BIP68: may a tx with these inputs go into a block at ``block_height``?

    ``coin_heights[i]`` is the height of the block that created input ``i``'s coin;
    ``median_time_past(h)`` is the median time past of the block at height ``h``.
    """
    if version < 2:
        return True
    min_height = -1
    min_time = -1
    for sequence, coin_height in zip(sequences, coin_heights, strict=True):
        if sequence & SEQUENCE_DISABLE_FLAG:
            continue
        value = sequence & SEQUENCE_MASK
        if sequence & SEQUENCE_TYPE_FLAG:
            coin_time = median_time_past(max(coin_height - 1, 0))
            min_time = max(min_time, coin_time + (value << SEQUENCE_GRANULARITY) - 1)
        else:
            min_height = max(min_height, coin_height + value - 1)
    if min_height >= block_height:
        return False
    return not (min_time >= 0 and min_time >= median_time_past(block_height - 1))
