"""Competition outcome scheme shared by the coordinator and the oracle.

Outcomes are ordered top-k rankings of the entries plus one refund-all outcome; players are
indexed in one canonical order (entries sorted by entry id); each outcome has a locking point
derived from the oracle key and the event nonce, and a payout weight table.
"""

from ticketdlc.competition.attestation import (
    ATTESTATION_TAG,
    Announcement,
    AttestationError,
    attest,
    attestation_message_hash,
    attestation_point,
    attestation_signature,
    locking_point,
    locking_points,
    verify_attestation,
)
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
    "ATTESTATION_TAG",
    "DEFAULT_MAX_OUTCOMES",
    "MAX_ENTRIES",
    "MAX_PLACES",
    "PLACE_WEIGHTS",
    "WEIGHT_TOTAL",
    "Announcement",
    "AttestationError",
    "EntryOrderError",
    "InvalidOutcomeSpaceError",
    "InvalidRankingError",
    "OutcomeSpace",
    "OutcomeSpaceTooLargeError",
    "attest",
    "attestation_message_hash",
    "attestation_point",
    "attestation_signature",
    "canonical_entry_order",
    "decode_ranking",
    "encode_ranking",
    "entry_indices",
    "equal_split",
    "expiry_weights",
    "locking_point",
    "locking_points",
    "outcome_count",
    "outcome_weights",
    "rank_weights",
    "ranking_of_winners",
    "ranking_weights",
    "verify_attestation",
]
