"""Per-role key derivation and at-rest sealing."""

from __future__ import annotations

import uuid

import pytest

from coordinator.domain.keys import CoordinatorKeys
from coordinator_core.sealing import SealError, seal, unseal

SEED = bytes(range(32))


def test_roles_get_distinct_keys() -> None:
    keys = CoordinatorKeys(SEED)
    cid_a, cid_b = uuid.UUID(int=1), uuid.UUID(int=2)
    derived = {
        keys.identity_secret,
        keys.wallet_root_secret,
        keys.market_maker_secret(cid_a),
        keys.market_maker_secret(cid_b),
        keys.signer_secret("authority", cid_a.bytes),
        keys.at_rest_key("ticket-preimage"),
        SEED,
    }
    assert len(derived) == 7
    assert keys.market_maker_secret(str(cid_a)) == keys.market_maker_secret(cid_a)
    assert CoordinatorKeys(SEED).identity_secret == keys.identity_secret


def test_bad_purpose_and_seed_refused() -> None:
    with pytest.raises(ValueError, match="purpose"):
        CoordinatorKeys(SEED).at_rest_key("a/b")
    with pytest.raises(ValueError, match="32 bytes"):
        CoordinatorKeys(b"short")


def test_seal_round_trip_and_binding() -> None:
    key = CoordinatorKeys(SEED).at_rest_key("ticket-preimage")
    sealed = seal(key, b"secret", b"ticket:1")
    assert sealed.startswith("s1:") and b"secret" not in sealed.encode()
    assert unseal(key, sealed, b"ticket:1") == b"secret"
    assert seal(key, b"secret", b"ticket:1") != sealed  # fresh nonce
    with pytest.raises(SealError):
        unseal(key, sealed, b"ticket:2")
    with pytest.raises(SealError):
        unseal(bytes(32), sealed, b"ticket:1")
    with pytest.raises(SealError):
        unseal(key, sealed[:-4] + "AAAA", b"ticket:1")
    with pytest.raises(SealError):
        unseal(key, "plain", b"ticket:1")
