"""Everything an external signer (an enclave, an HSM) needs to sign a contract (dlctix §8.4).

Attestation outcomes must get adaptor signatures under their adaptor points; expiry and every
split leaf get plain signatures. Signer lists are sorted (BIP-327 KeySort) and aggregate keys are
untweaked. The resulting :class:`~ticketdlc.contract.signatures.ContractSignatures` must be
verified (``SignedContract.verified``) before the contract counts as signed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ticketdlc.contract.build import TicketedDLC
from ticketdlc.contract.jsoncodec import JsonObj
from ticketdlc.contract.types import Outcome, WinCondition
from ticketdlc.crypto.secp import Point


@dataclass(frozen=True)
class SigningData:
    """Sighashes, adaptor points, signer sets and aggregate keys of a contract."""

    outcome_sighashes: dict[Outcome, bytes]
    adaptor_points: dict[int, Point]
    split_sighashes: dict[WinCondition, bytes]
    funding_signers: list[bytes]
    funding_agg_pubkey: Point
    split_signers: dict[Outcome, list[bytes]]
    split_agg_pubkeys: dict[Outcome, Point]

    @property
    def total_signature_count(self) -> int:
        """Aggregated signatures needed (outcomes plus split leaves)."""
        return len(self.outcome_sighashes) + len(self.split_sighashes)

    def to_json(self) -> JsonObj:
        """dlctix JSON; the 32-byte sighashes are arrays of integers, as serde writes them."""
        return {
            "outcome_sighashes": {str(o): list(h) for o, h in self.outcome_sighashes.items()},
            "adaptor_points": {str(i): p.hex() for i, p in self.adaptor_points.items()},
            "split_sighashes": {str(w): list(h) for w, h in self.split_sighashes.items()},
            "funding_signers": [pk.hex() for pk in self.funding_signers],
            "funding_agg_pubkey": self.funding_agg_pubkey.hex(),
            "split_signers": {
                str(o): [pk.hex() for pk in keys] for o, keys in self.split_signers.items()
            },
            "split_agg_pubkeys": {str(o): p.hex() for o, p in self.split_agg_pubkeys.items()},
        }


def signing_data(dlc: TicketedDLC) -> SigningData:
    """The :class:`SigningData` of a built contract."""
    points = dlc.params.event.locking_points
    adaptor_points: dict[int, Point] = {}
    for outcome in dlc.outcome_sighashes:
        point = None if outcome.is_expiry else points[outcome.code]
        if point is not None:
            adaptor_points[outcome.code] = point
    return SigningData(
        outcome_sighashes=dict(dlc.outcome_sighashes),
        adaptor_points=adaptor_points,
        split_sighashes=dict(dlc.split_sighashes),
        funding_signers=list(dlc.funding.keys.pubkeys),
        funding_agg_pubkey=dlc.funding.keys.aggregate,
        split_signers={o: list(info.keys.pubkeys) for o, info in dlc.outcome_infos.items()},
        split_agg_pubkeys={o: info.keys.aggregate for o, info in dlc.outcome_infos.items()},
    )
