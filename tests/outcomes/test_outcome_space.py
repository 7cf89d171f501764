"""Outcome enumeration, indexing and message encoding (oracle spec §5.2, §5.3)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from ticketdlc.competition import (
    DEFAULT_MAX_OUTCOMES,
    InvalidOutcomeSpaceError,
    InvalidRankingError,
    OutcomeSpace,
    OutcomeSpaceTooLargeError,
    decode_ranking,
    encode_ranking,
    outcome_count,
)


def test_enumeration_is_permutations_then_refund() -> None:
    space = OutcomeSpace(entries=3, places=2)
    assert list(space.rankings()) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (0, 1, 2)]
    assert space.count == 7
    assert space.refund_index == 6
    assert space.is_refund(6)
    assert not space.is_refund(5)


@pytest.mark.parametrize(
    ("entries", "places", "count"),
    [(2, 1, 3), (3, 2, 7), (4, 3, 25), (5, 3, 61), (20, 3, 6_841), (25, 3, 13_801)],
)
def test_outcome_counts_match_the_oracle(entries: int, places: int, count: int) -> None:
    assert outcome_count(entries, places) == count
    assert OutcomeSpace(entries, places).count == count


@pytest.mark.parametrize(("entries", "places"), [(2, 1), (4, 3), (5, 3), (6, 4), (7, 5)])
def test_direct_indexing_agrees_with_enumeration(entries: int, places: int) -> None:
    space = OutcomeSpace(entries, places)
    expected = [*itertools.permutations(range(entries), places), tuple(range(entries))]
    assert list(space.rankings()) == expected
    for index, ranking in enumerate(expected):
        assert space.ranking(index) == ranking
        assert space.index_of(ranking) == index
        assert space.message(index) == encode_ranking(ranking)
        assert space.index_of_message(encode_ranking(ranking)) == index


def test_direct_indexing_of_a_large_space_needs_no_enumeration() -> None:
    space = OutcomeSpace(25, 3)
    assert space.ranking(0) == (0, 1, 2)
    assert space.ranking(space.count - 2) == (24, 23, 22)
    assert space.index_of((24, 23, 22)) == space.count - 2
    assert space.index_of(range(25)) == space.refund_index


def test_messages_are_eight_byte_big_endian() -> None:
    assert encode_ranking([1]).hex() == "0000000000000001"
    assert encode_ranking([1, 0]).hex() == "00000000000000010000000000000000"
    assert encode_ranking([0, 2, 1]).hex() == "000000000000000000000000000000020000000000000001"
    assert decode_ranking(bytes.fromhex("000000000000000400000000000000000000000000000002")) == (
        4,
        0,
        2,
    )
    with pytest.raises(InvalidRankingError):
        decode_ranking(b"\x00" * 7)
    with pytest.raises(InvalidRankingError):
        encode_ranking([-1])


def test_vector_rankings_and_messages(vectors_dir: Path) -> None:
    vector = json.loads((vectors_dir / "oracle" / "attestation.json").read_text())
    for case in vector["cases"]:
        space = OutcomeSpace(case["entries"], case["places"])
        assert space.count == case["outcome_count"] == len(case["outcomes"])
        for outcome, ranking in zip(case["outcomes"], space.rankings(), strict=True):
            assert list(ranking) == outcome["ranking"]
            assert space.message(outcome["index"]).hex() == outcome["message_hex"]
        assert space.index_of(case["attested_ranking"]) == case["attested_index"]


def test_largest_oracle_space_is_refused_before_enumeration() -> None:
    started = time.perf_counter()
    with pytest.raises(OutcomeSpaceTooLargeError, match="6375601 outcomes"):
        OutcomeSpace(entries=25, places=5)
    with pytest.raises(OutcomeSpaceTooLargeError, match="303601 outcomes"):
        OutcomeSpace(entries=25, places=4)
    # Refusal is arithmetic only; enumerating 6.4 M rankings would take seconds.
    assert time.perf_counter() - started < 1.0


def test_cap_is_configurable() -> None:
    assert OutcomeSpace(5, 3, max_outcomes=61).count == 61
    with pytest.raises(OutcomeSpaceTooLargeError):
        OutcomeSpace(5, 3, max_outcomes=60)
    assert OutcomeSpace(25, 4, max_outcomes=400_000).count == 303_601
    assert DEFAULT_MAX_OUTCOMES >= 13_801


@pytest.mark.parametrize(
    ("entries", "places", "reason"),
    [
        (3, 3, "more than places"),  # identity ranking and refund-all would share a message
        (2, 5, "more than places"),
        (26, 3, "at most 25"),
        (5, 0, "between 1 and 5"),
        (10, 6, "between 1 and 5"),
    ],
)
def test_invalid_spaces_are_refused(entries: int, places: int, reason: str) -> None:
    with pytest.raises(InvalidOutcomeSpaceError, match=reason):
        OutcomeSpace(entries, places)


def test_bad_rankings_and_indices_are_refused() -> None:
    space = OutcomeSpace(4, 2)
    for bad in [(0,), (0, 0), (0, 4), (1, 2, 3), (0, 1, 2, 3, 4)]:
        with pytest.raises(InvalidRankingError):
            space.index_of(bad)
    for index in (-1, space.count):
        with pytest.raises(InvalidRankingError):
            space.ranking(index)
