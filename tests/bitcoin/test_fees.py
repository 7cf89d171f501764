"""Weight prediction and fee rounding (rust-bitcoin rules, dlctix §2.6 / §7)."""

from __future__ import annotations

import pytest

from ticketdlc.bitcoin.encoding import compact_size_len
from ticketdlc.bitcoin.fees import (
    P2TR_KEY_SPEND,
    InputWeightPrediction,
    fee_for_weight,
    is_above_p2tr_dust,
    predict_weight,
    sat_per_vb_to_sat_per_kwu,
)
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut


def split_weight(winners: int, depth: int) -> int:
    leaf_input = InputWeightPrediction(0, [64, 32, 69, 33 + 32 * depth])
    return predict_weight([leaf_input], [34] * winners)


def test_outcome_transaction_weight() -> None:
    assert predict_weight([P2TR_KEY_SPEND], [34]) == 444
    assert fee_for_weight(2500, 444) == 1110  # dlctix §12: 300000 − 1110 = 298890


@pytest.mark.parametrize(
    ("winners", "depth", "weight"),
    [(1, 1, 613), (2, 2, 817), (3, 3, 1021), (4, 3, 1193), (20, 6, 4041), (64, 7, 11643)],
)
def test_split_weight_examples(winners: int, depth: int, weight: int) -> None:
    assert split_weight(winners, depth) == weight
    control_len = 33 + 32 * depth
    closed_form = (
        404
        + 4 * compact_size_len(winners)
        + 172 * winners
        + compact_size_len(control_len)
        + 32 * depth
    )
    assert weight == closed_form


def test_split_fees_from_spec() -> None:
    assert fee_for_weight(2500, 613) == 1533
    assert fee_for_weight(2500, 817) == 2043


def test_prediction_matches_real_transaction_weight() -> None:
    for depth, winners in [(1, 1), (3, 4), (2, 2)]:
        witness = [bytes(64), bytes(32), bytes(69), bytes(33 + 32 * depth)]
        tx = Transaction(
            2,
            [TxIn(OutPoint(bytes(32), 0), sequence=432, witness=witness)],
            [TxOut(1000, b"\x51\x20" + bytes(32)) for _ in range(winners)],
        )
        assert tx.weight() == split_weight(winners, depth)
    mixed = Transaction(
        2,
        [
            TxIn(OutPoint(bytes(32), 0), witness=[bytes(64)]),
            TxIn(OutPoint(bytes(32), 1), script_sig=bytes(107)),
        ],
        [TxOut(1000, bytes(22))],
    )
    predicted = predict_weight([P2TR_KEY_SPEND, InputWeightPrediction(107)], [22])
    assert mixed.weight() == predicted
    no_witness = Transaction(2, [TxIn(OutPoint(bytes(32), 0), bytes(10))], [TxOut(1, bytes(34))])
    assert no_witness.weight() == predict_weight([InputWeightPrediction(10)], [34])


def test_fee_rounding_and_dust() -> None:
    assert fee_for_weight(250, 4) == 1
    assert fee_for_weight(1, 1) == 1
    assert fee_for_weight(1000, 1000) == 1000
    assert fee_for_weight(0, 500) == 0
    assert sat_per_vb_to_sat_per_kwu(10) == 2500
    assert not is_above_p2tr_dust(330)
    assert is_above_p2tr_dust(331)
    with pytest.raises(ValueError, match="non-negative"):
        fee_for_weight(-1, 10)
