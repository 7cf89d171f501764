"""Locking points and attestations reproduce the oracle vectors (oracle spec §5.4–§5.9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ticketdlc.competition import OutcomeSpace
from ticketdlc.competition.attestation import (
    Announcement,
    AttestationError,
    attest,
    attestation_message_hash,
    attestation_signature,
    locking_point,
    locking_points,
    verify_attestation,
)
from ticketdlc.crypto import bip340
from ticketdlc.crypto.secp import CURVE_ORDER, Point


@pytest.fixture(scope="module")
def vector(vectors_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors_dir / "oracle" / "attestation.json").read_text())
    return data


def _keys(vector: dict[str, Any]) -> tuple[int, int, Point, Point]:
    d = int(vector["oracle_secret_hex"], 16)
    k = int(vector["nonce_secret_hex"], 16)
    return d, k, Point.from_secret(d), Point.from_secret(k)


def test_keys_match_the_vector(vector: dict[str, Any]) -> None:
    _, _, oracle_pubkey, nonce_point = _keys(vector)
    assert oracle_pubkey.hex() == vector["oracle_pubkey"]
    assert nonce_point.hex() == vector["nonce_point"]


def test_locking_points_attestations_and_signatures(vector: dict[str, Any]) -> None:
    d, k, oracle_pubkey, nonce_point = _keys(vector)
    for case in vector["cases"]:
        space = OutcomeSpace(case["entries"], case["places"])
        points = locking_points(space, oracle_pubkey, nonce_point)
        assert [p.hex() for p in points] == [o["locking_point"] for o in case["outcomes"]]

        message = space.message(case["attested_index"])
        assert message.hex() == case["message_tag_hash_input"]
        assert attestation_message_hash(message).hex() == case["message_hash"]
        s = attest(d, k, message)
        assert f"{s:064x}" == case["attestation_scalar"]
        signature = attestation_signature(nonce_point, s)
        assert signature.hex() == case["bip340_signature"]
        assert bip340.verify(oracle_pubkey.xonly(), attestation_message_hash(message), signature)
        assert verify_attestation(oracle_pubkey, nonce_point, message, s)

        announcement = Announcement(space, points)
        assert announcement.outcome_index(s) == case["attested_index"]
        assert Announcement.derive(space, oracle_pubkey, nonce_point).matches(points)


def test_wrong_attestations_are_rejected(vector: dict[str, Any]) -> None:
    d, k, oracle_pubkey, nonce_point = _keys(vector)
    space = OutcomeSpace(3, 2)
    announcement = Announcement.derive(space, oracle_pubkey, nonce_point)
    s = attest(d, k, space.message(2))
    assert not verify_attestation(oracle_pubkey, nonce_point, space.message(3), s)
    assert not verify_attestation(oracle_pubkey, nonce_point, space.message(2), s + 1)
    assert not verify_attestation(oracle_pubkey, nonce_point, space.message(2), 0)
    with pytest.raises(AttestationError, match="matches no announced"):
        announcement.outcome_index(s + 1)
    with pytest.raises(AttestationError):
        announcement.outcome_index(CURVE_ORDER)
    # An attestation by another oracle key unlocks nothing.
    other = attest(d + 1, k, space.message(2))
    with pytest.raises(AttestationError):
        announcement.outcome_index(other)


def test_malformed_announcements_are_refused(vector: dict[str, Any]) -> None:
    _, _, oracle_pubkey, nonce_point = _keys(vector)
    space = OutcomeSpace(3, 2)
    points = locking_points(space, oracle_pubkey, nonce_point)
    with pytest.raises(AttestationError, match="expected 7"):
        Announcement(space, points[:-1])
    with pytest.raises(AttestationError, match="same point"):
        Announcement(space, [*points[:-1], points[0]])


def test_odd_y_keys_are_normalised() -> None:
    # Find secrets whose points have odd y, so the negation branches are exercised.
    d = next(x for x in range(2, 100) if not Point.from_secret(x).has_even_y())
    k = next(x for x in range(200, 300) if not Point.from_secret(x).has_even_y())
    message = OutcomeSpace(2, 1).message(0)
    s = attest(d, k, message)
    assert Point.from_secret(s) == locking_point(
        Point.from_secret(d), Point.from_secret(k), message
    )
