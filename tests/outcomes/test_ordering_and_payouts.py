"""Canonical player order and payout weights (coordinator spec §6.4)."""

from __future__ import annotations

import uuid

import pytest

from ticketdlc.competition import (
    PLACE_WEIGHTS,
    EntryOrderError,
    InvalidRankingError,
    OutcomeSpace,
    canonical_entry_order,
    entry_indices,
    equal_split,
    expiry_weights,
    outcome_weights,
    ranking_of_winners,
)

E1 = uuid.UUID("01913ebc-1864-7000-8000-000000000001")
E2 = uuid.UUID("01913ebc-18c8-7000-8000-000000000002")
E3 = uuid.UUID("01913ebc-192c-7000-8000-000000000003")
E4 = uuid.UUID("01913ebc-1990-7000-8000-000000000004")


def test_canonical_order_sorts_by_uuid_whatever_the_input_order() -> None:
    assert canonical_entry_order([E3, E1, E4, E2]) == [E1, E2, E3, E4]
    assert entry_indices([E4, E3, E2, E1]) == {E1: 0, E2: 1, E3: 2, E4: 3}
    # The 128-bit value decides, not the text of the random part.
    low = uuid.UUID("01913ebc-1864-7000-8000-00000000000f")
    high = uuid.UUID("01913ebc-1864-7000-8000-000000000010")
    assert canonical_entry_order([high, low]) == [low, high]


def test_duplicates_and_strangers_are_refused() -> None:
    with pytest.raises(EntryOrderError, match="duplicate"):
        canonical_entry_order([E1, E2, E1])
    with pytest.raises(EntryOrderError, match="not an entry"):
        ranking_of_winners([uuid.UUID(int=5)], [E1, E2])
    with pytest.raises(EntryOrderError, match="twice"):
        ranking_of_winners([E1, E1], [E1, E2])


def test_winners_map_to_the_scoring_example_ranking() -> None:
    # Oracle spec §6.5: ranking E1, E3, E2 is outcome [0, 2, 1], index 2 of 25.
    ranking = ranking_of_winners([E1, E3, E2], [E4, E2, E3, E1])
    assert ranking == (0, 2, 1)
    assert OutcomeSpace(4, 3).index_of(ranking) == 2


def test_rank_weight_tables_sum_to_100() -> None:
    assert PLACE_WEIGHTS[3] == (45, 35, 20)
    for places, weights in PLACE_WEIGHTS.items():
        assert len(weights) == places
        assert sum(weights) == 100


def test_outcome_weights_follow_the_ranking() -> None:
    space = OutcomeSpace(4, 3)
    assert outcome_weights(space, 2) == {0: 45, 2: 35, 1: 20}
    space2 = OutcomeSpace(5, 2)
    assert outcome_weights(space2, space2.index_of((4, 1))) == {4: 60, 1: 40}


def test_refund_and_expiry_split_equally_with_remainder_to_the_first() -> None:
    space = OutcomeSpace(3, 1)
    assert outcome_weights(space, space.refund_index) == {0: 34, 1: 33, 2: 33}
    assert expiry_weights(space) == {0: 34, 1: 33, 2: 33}
    assert equal_split(4) == {0: 25, 1: 25, 2: 25, 3: 25}
    assert sum(equal_split(7).values()) == 100
    with pytest.raises(InvalidRankingError):
        equal_split(0)
