"""Oracle announcement and attestation math for competition outcomes (dlctix §3, oracle §5).

The oracle has one key pair ``(d, P)`` and one nonce ``(k, R)`` per event. For an outcome
message ``msg``:

* ``m = tagged_hash("DLC/oracle/attestation/v0", msg)``;
* ``e = tagged_hash("BIP0340/challenge", x(R) || x(P) || m) mod n``;
* the locking point is ``S = even(R) + e·even(P)``;
* the attestation is ``s = k' + e·d' mod n`` (``k'``, ``d'`` negated for odd-y points), so that
  ``s·G == S`` and ``x(R) || s`` is a BIP-340 signature by ``x(P)`` over ``m``.

Every point operation goes through :class:`ticketdlc.crypto.secp.Point` (libsecp256k1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ticketdlc.competition.outcomes import OutcomeSpace
from ticketdlc.crypto import bip340
from ticketdlc.crypto.secp import CURVE_ORDER, Point, scalar_to_bytes, tagged_hash

ATTESTATION_TAG = "DLC/oracle/attestation/v0"


class AttestationError(ValueError):
    """An attestation does not match the announcement, or could not be produced correctly."""


def attestation_message_hash(message: bytes) -> bytes:
    """The 32-byte pre-hash ``m`` the oracle signs for an outcome message."""
    return tagged_hash(ATTESTATION_TAG, message)


def locking_point(oracle_pubkey: Point, nonce_point: Point, message: bytes) -> Point:
    """``S = even(R) + e·even(P)``: the point whose discrete log the attestation reveals."""
    m = attestation_message_hash(message)
    e = bip340.challenge(nonce_point.xonly(), oracle_pubkey.xonly(), m)
    return nonce_point.with_even_y() + oracle_pubkey.with_even_y() * e


def locking_points(space: OutcomeSpace, oracle_pubkey: Point, nonce_point: Point) -> list[Point]:
    """The announcement: one locking point per outcome, in outcome index order."""
    return [locking_point(oracle_pubkey, nonce_point, message) for message in space.messages()]


def attest(oracle_secret: int, nonce_secret: int, message: bytes) -> int:
    """Oracle side: the attestation scalar ``s`` for ``message``, verified before it is returned.

    The caller must sign one message per nonce, ever: two attestations under one nonce reveal
    the oracle's secret key.
    """
    if not (0 < oracle_secret < CURVE_ORDER and 0 < nonce_secret < CURVE_ORDER):
        raise AttestationError("oracle secret and nonce secret must be in [1, n-1]")
    oracle_pubkey = Point.from_secret(oracle_secret)
    nonce_point = Point.from_secret(nonce_secret)
    d = oracle_secret if oracle_pubkey.has_even_y() else CURVE_ORDER - oracle_secret
    k = nonce_secret if nonce_point.has_even_y() else CURVE_ORDER - nonce_secret
    m = attestation_message_hash(message)
    e = bip340.challenge(nonce_point.xonly(), oracle_pubkey.xonly(), m)
    attestation = (k + e * d) % CURVE_ORDER
    if not verify_attestation(oracle_pubkey, nonce_point, message, attestation):
        raise AttestationError("produced attestation does not verify")
    return attestation


def attestation_signature(nonce_point: Point, attestation: int) -> bytes:
    """The attestation as a 64-byte BIP-340 signature ``x(R) || s``."""
    return nonce_point.xonly() + scalar_to_bytes(attestation)


def verify_attestation(
    oracle_pubkey: Point, nonce_point: Point, message: bytes, attestation: int
) -> bool:
    """True if ``attestation`` is the oracle's BIP-340 signature over ``message``'s pre-hash."""
    if not 0 < attestation < CURVE_ORDER:
        return False
    return bip340.verify(
        oracle_pubkey.xonly(),
        attestation_message_hash(message),
        attestation_signature(nonce_point, attestation),
    )


def attestation_point(attestation: int) -> Point:
    """``s·G``, the locking point an attestation unlocks."""
    if not 0 < attestation < CURVE_ORDER:
        raise AttestationError("attestation scalar must be in [1, n-1]")
    return Point.from_secret(attestation)


class Announcement:
    """The locking points of an event, indexed for attestation lookup.

    Construction refuses announcements whose size does not match the outcome space or that
    repeat a point (a repeated point would let one attestation unlock two outcomes).
    """

    def __init__(self, space: OutcomeSpace, points: Iterable[Point]) -> None:
        self.space = space
        self.points: tuple[Point, ...] = tuple(points)
        if len(self.points) != space.count:
            raise AttestationError(
                f"announcement has {len(self.points)} locking points, "
                f"expected {space.count} for {space.entries} entries and {space.places} places"
            )
        self._index: dict[bytes, int] = {}
        for index, point in enumerate(self.points):
            key = point.to_bytes()
            if key in self._index:
                raise AttestationError(
                    f"locking points {self._index[key]} and {index} are the same point"
                )
            self._index[key] = index

    @classmethod
    def derive(cls, space: OutcomeSpace, oracle_pubkey: Point, nonce_point: Point) -> Announcement:
        """The announcement an honest oracle with this key and nonce point publishes."""
        return cls(space, locking_points(space, oracle_pubkey, nonce_point))

    def outcome_index(self, attestation: int) -> int:
        """Index of the outcome ``attestation`` unlocks; raises if it unlocks none."""
        index = self._index.get(attestation_point(attestation).to_bytes())
        if index is None:
            raise AttestationError("attestation matches no announced locking point")
        return index

    def matches(self, other: Sequence[Point]) -> bool:
        """True if ``other`` lists the same points in the same order."""
        return tuple(other) == self.points
