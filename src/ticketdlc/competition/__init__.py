"""Competition outcome scheme shared by the coordinator and the oracle.

Outcomes are ordered top-k rankings of the entries plus one refund-all outcome; players are
indexed in one canonical order (entries sorted by entry id); each outcome has a locking point
derived from the oracle key and the event nonce, and a payout weight table.
"""

from ticketdlc.competition.ordering import (
    EntryOrderError,
    canonical_entry_order,
    entry_indices,
    ranking_of_winners,
)
from ticketdlc.competition.outcomes import (
    DEFAULT_MAX_OUTCOMES,
    MAX_ENTRIES,
    MAX_PLACES,
    InvalidOutcomeSpaceError,
    InvalidRankingError,
    OutcomeSpace,
    OutcomeSpaceTooLargeError,
    decode_ranking,
    encode_ranking,
    outcome_count,
)
from ticketdlc.competition.payouts import (
    PLACE_WEIGHTS,
    WEIGHT_TOTAL,
    equal_split,
    expiry_weights,
    outcome_weights,
    rank_weights,
    ranking_weights,
)

__all__ = [
    "DEFAULT_MAX_OUTCOMES",
    "MAX_ENTRIES",
    "MAX_PLACES",
    "PLACE_WEIGHTS",
    "WEIGHT_TOTAL",
    "EntryOrderError",
    "InvalidOutcomeSpaceError",
    "InvalidRankingError",
    "OutcomeSpace",
    "OutcomeSpaceTooLargeError",
    "canonical_entry_order",
    "decode_ranking",
    "encode_ranking",
    "entry_indices",
    "equal_split",
    "expiry_weights",
    "outcome_count",
    "outcome_weights",
    "rank_weights",
    "ranking_of_winners",
    "ranking_weights",
]
