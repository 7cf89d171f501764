"""Entries: a player's picks, checked against the competition's terms before they are stored."""

from __future__ import annotations

from collections.abc import Sequence

from coordinator.domain.competitions.terms import CompetitionTerms
from coordinator_core.errors import ValidationError
from coordinator_core.observations import StationPicks


def check_picks(picks: Sequence[StationPicks], terms: CompetitionTerms) -> int:
    """Raise ValidationError unless ``picks`` fit ``terms``; returns the number of picks.

    Every station must be one of the competition's, at most once; only scored metrics may be
    picked; at least one pick and at most ``number_of_values_per_entry``.
    """
    seen: set[str] = set()
    count = 0
    for choice in picks:
        if choice.station not in terms.locations:
            raise ValidationError(f"station {choice.station} is not part of this competition")
        if choice.station in seen:
            raise ValidationError(f"station {choice.station} appears twice")
        seen.add(choice.station)
        unscored = [m.value for m in choice.picks() if m not in terms.scoring_fields]
        if unscored:
            raise ValidationError(f"{', '.join(unscored)} is not scored in this competition")
        count += choice.pick_count()
    if count == 0:
        raise ValidationError("an entry needs at least one pick")
    if count > terms.number_of_values_per_entry:
        raise ValidationError(
            f"{count} picks, more than the {terms.number_of_values_per_entry} allowed"
        )
    return count
