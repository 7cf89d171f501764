"""The canonical order of a competition's players, shared by the coordinator and the oracle.

Entry index ``i`` in an outcome means the ``i``-th entry when the event's entries are sorted by
entry id (a UUID, compared as its 128-bit big-endian value). The oracle ranks entries in this
order, so the coordinator must map outcome indices to players in the same order, never by ticket
id or by arrival.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence


class EntryOrderError(ValueError):
    """The entry ids are not a valid set of distinct entries, or a winner is not among them."""


def canonical_entry_order(entry_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """The entries in canonical order: sorted by UUID. Duplicate ids are an error."""
    ordered = sorted(entry_ids, key=lambda value: value.int)
    for previous, current in itertools.pairwise(ordered):
        if previous == current:
            raise EntryOrderError(f"duplicate entry id {current}")
    return ordered


def entry_indices(entry_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Each entry id's index in the canonical order."""
    return {entry_id: index for index, entry_id in enumerate(canonical_entry_order(entry_ids))}


def ranking_of_winners(
    winners: Sequence[uuid.UUID], entry_ids: Iterable[uuid.UUID]
) -> tuple[int, ...]:
    """The outcome ranking naming ``winners`` (first place first) by canonical index."""
    indices = entry_indices(entry_ids)
    ranking: list[int] = []
    for winner in winners:
        if winner not in indices:
            raise EntryOrderError(f"winner {winner} is not an entry of the event")
        ranking.append(indices[winner])
    if len(set(ranking)) != len(ranking):
        raise EntryOrderError("a winner appears twice in the ranking")
    return tuple(ranking)
