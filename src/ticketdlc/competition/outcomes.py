"""Outcome space of a competition: ordered top-k rankings of n entries plus one refund-all.

The enumeration and message encoding match the noaa-oracle exactly, so the coordinator and the
oracle agree on what outcome index ``i`` means:

* outcomes ``0 .. P(n,k)-1`` are ``itertools.permutations(range(n), k)`` in lexicographic order,
  each an ordered list of entry indices (first place first);
* the last outcome is the refund-all ranking ``[0, 1, …, n-1]``;
* an outcome's message is each index as 8 bytes big-endian, concatenated.

Entry index ``i`` is the ``i``-th entry in the canonical order (:mod:`.ordering`).

Places must be fewer than entries: with ``k == n`` the identity ranking and the refund-all
outcome have the same message, so one attestation would unlock two payouts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

MAX_ENTRIES = 25
"""Most entries an event may have (the oracle's protocol limit)."""

MAX_PLACES = 5
"""Most paid places (the payout weight table stops at five)."""

DEFAULT_MAX_OUTCOMES = 20_000
"""Default cap on the outcome count; each outcome costs a locking point and a signed transaction.

It admits n=25,k=3 (13,801 outcomes) and refuses n=25,k=4 (303,601) and n=25,k=5 (6,375,601).
"""

INDEX_BYTES = 8


class InvalidOutcomeSpaceError(ValueError):
    """The entry and place counts do not describe a valid competition."""


class OutcomeSpaceTooLargeError(InvalidOutcomeSpaceError):
    """The outcome count exceeds the configured maximum."""


class InvalidRankingError(ValueError):
    """A ranking, outcome index or message is not part of the outcome space."""


def outcome_count(entries: int, places: int) -> int:
    """Number of outcomes, ``P(n, k) + 1``, computed without enumerating anything."""
    if entries < 0 or places < 0:
        raise InvalidOutcomeSpaceError("entries and places must not be negative")
    return math.perm(entries, places) + 1


@dataclass(frozen=True)
class OutcomeSpace:
    """The outcomes of an event with ``entries`` entries paying ``places`` ranked places.

    Construction validates the counts and the cap, before any enumeration happens.
    """

    entries: int
    places: int
    max_outcomes: int = DEFAULT_MAX_OUTCOMES

    def __post_init__(self) -> None:
        if not 1 <= self.places <= MAX_PLACES:
            raise InvalidOutcomeSpaceError(
                f"places must be between 1 and {MAX_PLACES}, got {self.places}"
            )
        if not self.places < self.entries <= MAX_ENTRIES:
            raise InvalidOutcomeSpaceError(
                f"entries must be more than places ({self.places}) and at most {MAX_ENTRIES}, "
                f"got {self.entries}"
            )
        count = outcome_count(self.entries, self.places)
        if count > self.max_outcomes:
            raise OutcomeSpaceTooLargeError(
                f"{self.entries} entries with {self.places} places give {count} outcomes, "
                f"more than the maximum of {self.max_outcomes}"
            )

    @property
    def count(self) -> int:
        """Number of outcomes, refund-all included."""
        return outcome_count(self.entries, self.places)

    @property
    def refund_index(self) -> int:
        """Index of the refund-all outcome (always the last)."""
        return self.count - 1

    @property
    def refund_ranking(self) -> tuple[int, ...]:
        """The refund-all outcome ``(0, 1, …, n-1)``."""
        return tuple(range(self.entries))

    def is_refund(self, index: int) -> bool:
        """True if ``index`` is the refund-all outcome."""
        self._check_index(index)
        return index == self.refund_index

    def rankings(self) -> Iterator[tuple[int, ...]]:
        """Every outcome in index order."""
        yield from itertools.permutations(range(self.entries), self.places)
        yield self.refund_ranking

    def messages(self) -> Iterator[bytes]:
        """The message of every outcome in index order."""
        for ranking in self.rankings():
            yield encode_ranking(ranking)

    def ranking(self, index: int) -> tuple[int, ...]:
        """The outcome at ``index``, computed directly (no enumeration)."""
        self._check_index(index)
        if index == self.refund_index:
            return self.refund_ranking
        remaining = list(range(self.entries))
        ranking: list[int] = []
        for position in range(self.places):
            block = math.perm(self.entries - position - 1, self.places - position - 1)
            choice, index = divmod(index, block)
            ranking.append(remaining.pop(choice))
        return tuple(ranking)

    def index_of(self, ranking: Sequence[int]) -> int:
        """Index of ``ranking`` (a top-``places`` ranking or the refund-all outcome)."""
        ranking = tuple(ranking)
        if ranking == self.refund_ranking:
            return self.refund_index
        if len(ranking) != self.places:
            raise InvalidRankingError(
                f"a ranking has {self.places} places or is the refund-all outcome, got {ranking}"
            )
        if len(set(ranking)) != len(ranking) or not all(
            0 <= entry < self.entries for entry in ranking
        ):
            raise InvalidRankingError(
                f"ranking {ranking} must name distinct entries below {self.entries}"
            )
        remaining = list(range(self.entries))
        index = 0
        for position, entry in enumerate(ranking):
            block = math.perm(self.entries - position - 1, self.places - position - 1)
            index += remaining.index(entry) * block
            remaining.remove(entry)
        return index

    def message(self, index: int) -> bytes:
        """The message signed for the outcome at ``index``."""
        return encode_ranking(self.ranking(index))

    def index_of_message(self, message: bytes) -> int:
        """Index of the outcome whose message is ``message``."""
        return self.index_of(decode_ranking(message))

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.count:
            raise InvalidRankingError(f"outcome index {index} is not in 0..{self.count - 1}")


def encode_ranking(ranking: Sequence[int]) -> bytes:
    """Outcome message: each entry index as 8 bytes big-endian."""
    try:
        return b"".join(entry.to_bytes(INDEX_BYTES, "big") for entry in ranking)
    except OverflowError as exc:
        raise InvalidRankingError(f"ranking {list(ranking)} has an index out of range") from exc


def decode_ranking(message: bytes) -> tuple[int, ...]:
    """Inverse of :func:`encode_ranking`."""
    if len(message) % INDEX_BYTES:
        raise InvalidRankingError(f"message length {len(message)} is not a multiple of 8")
    return tuple(
        int.from_bytes(message[offset : offset + INDEX_BYTES], "big")
        for offset in range(0, len(message), INDEX_BYTES)
    )
