"""Pure rules: lock-time finality, BIP68, fee-rate choice, confirmation count."""

from __future__ import annotations

from coordinator.domain.ports.chain import TxStatus, confirmations_from, fee_rate_for_target
from devnet.chain.locks import (
    SEQUENCE_DISABLE_FLAG,
    SEQUENCE_FINAL,
    SEQUENCE_TYPE_FLAG,
    is_final,
    sequence_locks_satisfied,
)
from devnet.chain.policy import dust_threshold


def test_absolute_locktime() -> None:
    assert is_final(0, [0], 1, 0)
    assert is_final(100, [0], 101, 0) and not is_final(100, [0], 100, 0)
    assert not is_final(100, [0, SEQUENCE_FINAL], 100, 0)
    assert is_final(100, [SEQUENCE_FINAL], 50, 0)  # all inputs final: locktime disabled
    assert is_final(600_000_000, [0], 1, 600_000_001)
    assert not is_final(600_000_000, [0], 10**6, 600_000_000)


def test_relative_locks() -> None:
    def mtp(height: int) -> int:
        return 1_000_000 + 600 * height

    # Height lock of 10 on a coin from block 100: spendable from block 110.
    assert not sequence_locks_satisfied(2, [10], [100], 109, mtp)
    assert sequence_locks_satisfied(2, [10], [100], 110, mtp)
    assert sequence_locks_satisfied(1, [10], [100], 101, mtp)  # version 1: BIP68 off
    assert sequence_locks_satisfied(2, [10 | SEQUENCE_DISABLE_FLAG], [100], 101, mtp)
    # Time lock of 2 × 512 s from the median time past of the coin's parent block (99).
    lock = SEQUENCE_TYPE_FLAG | 2
    needed = mtp(99) + 1024  # the previous block's median time must exceed needed - 1
    first_ok = next(h for h in range(100, 200) if mtp(h - 1) > needed - 1)
    assert not sequence_locks_satisfied(2, [lock], [100], first_ok - 1, mtp)
    assert sequence_locks_satisfied(2, [lock], [100], first_ok, mtp)


def test_fee_rate_for_target() -> None:
    assert fee_rate_for_target({1: 12.2, 6: 3.0}, 1) == 13
    assert fee_rate_for_target({2: 5.5, 6: 3.0}, 1) == 6  # missing target: fastest available
    assert fee_rate_for_target({2: 5.5, 6: 3.0}, 12) == 3  # nearest faster target
    assert fee_rate_for_target({}, 1) == 1
    assert fee_rate_for_target({1: float("nan"), 3: 0.2}, 1) == 1


def test_confirmations_count_from_the_tip() -> None:
    assert confirmations_from(None, 200) == 0
    assert confirmations_from(TxStatus(False), 200) == 0
    assert confirmations_from(TxStatus(True, 200, "00" * 32, 0), 200) == 1
    assert confirmations_from(TxStatus(True, 195, "00" * 32, 0), 200) == 6


def test_dust_thresholds_match_bitcoin_core() -> None:
    assert dust_threshold(bytes.fromhex("5120") + bytes(32)) == 330  # P2TR
    assert dust_threshold(bytes.fromhex("0014") + bytes(20)) == 294  # P2WPKH
    assert dust_threshold(bytes.fromhex("76a914") + bytes(20) + bytes.fromhex("88ac")) == 546
    assert dust_threshold(bytes.fromhex("6a04deadbeef")) == 0  # OP_RETURN
