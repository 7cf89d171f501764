"""Batch verification: every row checked, failing indices reported, parallel paths agree."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from tests.crypto.signers import make_signers, run_session
from ticketdlc.crypto import adaptor, bip340, musig2
from ticketdlc.crypto.batch import PARALLEL_THRESHOLD, Row, verify_batch, verify_row


def schnorr_rows(count: int) -> list[Row]:
    rows: list[Row] = []
    for _ in range(count):
        sk = os.urandom(32)
        msg = os.urandom(32)
        rows.append((bip340.xonly_pubkey(sk), msg, bip340.sign(sk, msg, os.urandom(32))))
    return rows


def adaptor_rows(count: int) -> list[Row]:
    rows: list[Row] = []
    for _ in range(count):
        signers = make_signers(2)
        msg = os.urandom(32)
        secret = os.urandom(31).rjust(32, b"\x00")
        point = adaptor.solo_adaptor_point(secret)
        pre, session = run_session(signers, msg, adaptor_point=point)
        pubkey = musig2.get_xonly_pk(musig2.key_agg(session.pubkeys))
        rows.append((pubkey, msg, pre, point.to_bytes()))
    return rows


def corrupt(row: Row) -> Row:
    signature = row[2]
    bad = signature[:-1] + bytes((signature[-1] ^ 1,))
    return (row[0], row[1], bad) if len(row) == 3 else (row[0], row[1], bad, row[3])


def test_mixed_rows_with_blame() -> None:
    rows = schnorr_rows(6) + adaptor_rows(3)
    assert verify_batch(rows).ok
    bad_indices = [1, 4, 7]
    for i in bad_indices:
        rows[i] = corrupt(rows[i])
    result = verify_batch(rows)
    assert not result.ok
    assert result.failed == tuple(bad_indices)
    assert verify_batch([]).ok


def test_wrong_adaptor_point_and_malformed_rows() -> None:
    row = adaptor_rows(1)[0]
    other_point = adaptor.solo_adaptor_point(os.urandom(31).rjust(32, b"\x01"))
    assert not verify_row((row[0], row[1], row[2], other_point))
    assert not verify_row((row[0], row[1], row[2][:64]))
    with pytest.raises(ValueError, match="a row is"):
        verify_row((row[0], row[1]))  # type: ignore[arg-type]


def test_parallel_paths_agree() -> None:
    base = schnorr_rows(64)
    rows = (base * (PARALLEL_THRESHOLD // len(base) + 1))[: PARALLEL_THRESHOLD + 10]
    rows[3] = corrupt(rows[3])
    rows[-1] = corrupt(rows[-1])
    expected = (3, len(rows) - 1)
    assert verify_batch(rows, workers=1).failed == expected
    assert verify_batch(rows, workers=2).failed == expected
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        assert verify_batch(rows, executor=pool).failed == expected
