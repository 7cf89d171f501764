"""The devnet gateway's MuSig2 rounds: session values derived once per item at DistributeNonces
are what FinalizeSignature aggregates under, and a bad partial signature is caught and blamed."""

from __future__ import annotations

import os

import pytest

from devnet.signer import musig
from ticketdlc.bitcoin.taproot import tap_tweak
from ticketdlc.crypto import adaptor, bip340, musig2
from ticketdlc.crypto.secp import CURVE_ORDER, Point


def _enclaves(secrets: list[bytes]) -> list[musig.LocalGroups]:
    """Two simulated enclaves holding alternate keys."""
    signers = [musig.LocalSigner(Point.from_secret(s).to_bytes(), s) for s in secrets]
    return [musig.LocalGroups({s.pubkey: s for s in signers[i::2]}) for i in range(2)]


def _items(pubkeys: tuple[bytes, ...], count: int) -> list[musig.SigningItem]:
    internal = musig2.key_agg(pubkeys).Q
    tweaks = (tap_tweak(internal.xonly(), None).to_bytes(32, "big"),)
    items = []
    for index in range(count):
        point = Point.from_secret(os.urandom(32)).to_bytes() if index % 2 else None
        items.append(
            musig.SigningItem(
                index,
                f"item-{index}",
                os.urandom(32),
                pubkeys,
                tweaks,
                (True,),
                None if point is None else f"adaptor-{index}",
                point,
            )
        )
    return items


def _round(
    items: list[musig.SigningItem], enclaves: list[musig.LocalGroups]
) -> tuple[list[tuple[bytes, musig.Groups]], list[list[bytes | None]]]:
    tables = [(os.urandom(32), groups.table(items)) for groups in enclaves]
    nonces = [musig.nonces_chunk(seed, items, table) for seed, table in tables]
    return tables, [list(row) for row in zip(*nonces, strict=True)]


def test_finalization_values_sign_every_item_under_its_own_session() -> None:
    secrets = [os.urandom(32) for _ in range(5)]
    pubkeys = tuple(sorted(Point.from_secret(s).to_bytes() for s in secrets))
    items = _items(pubkeys, 6)
    tables, nonces = _round(items, _enclaves(secrets))

    distributed = musig.distribute_chunk(items, nonces, tables)
    finalizations = [f for f, _ in distributed]
    partials = [[s for s in shares if s is not None] for _, shares in distributed]
    signatures = musig.finals_chunk(items, finalizations, partials)

    key = musig2.key_agg_and_tweak(pubkeys, items[0].tweaks, items[0].is_xonly).Q.xonly()
    for item, finalization, signature in zip(items, finalizations, signatures, strict=True):
        assert signature is not None
        assert finalization.aggregate_key == key
        assert finalization.aggnonce == musig2.nonce_agg([n for n in nonces[item.index] if n])
        if item.adaptor_point is None:
            assert bip340.verify(key, item.message, signature)
        else:
            assert adaptor.verify(key, item.message, signature, item.adaptor_point)
    # each item's values are its own: no two items share a nonce or a session
    assert len({f.nonce for f in finalizations}) == len(items)
    # another item's session values never finalize this item
    swapped = musig.finals_chunk(items[:2], finalizations[1::-1], partials[:2])
    assert swapped == [None, None]


def test_a_bad_partial_signature_fails_finalization_and_is_blamed() -> None:
    secrets = [os.urandom(32) for _ in range(4)]
    pubkeys = tuple(sorted(Point.from_secret(s).to_bytes() for s in secrets))
    enclaves = _enclaves(secrets)
    items = _items(pubkeys, 2)
    tables, nonces = _round(items, enclaves)
    distributed = musig.distribute_chunk(items, nonces, tables)
    for item, (finalization, shares) in zip(items, distributed, strict=True):
        good = [s for s in shares if s is not None]
        bad = [good[0], (good[1] + 1) % CURVE_ORDER]
        assert musig.final_signature(item, finalization, bad) is None
        members = [sorted(groups.local) for groups in enclaves]
        verdicts = [
            musig.partial_valid(item, finalization.aggnonce, nonces[item.index][j], members[j], s)
            for j, s in enumerate(bad)
        ]
        assert verdicts == [True, False]


def test_a_nonce_from_an_enclave_holding_no_signer_is_refused() -> None:
    secrets = [os.urandom(32) for _ in range(2)]
    pubkeys = tuple(sorted(Point.from_secret(s).to_bytes() for s in secrets))
    outsider = musig.LocalGroups({})
    items = _items(pubkeys, 1)
    tables, nonces = _round(items, [*_enclaves(secrets), outsider])
    assert nonces[0][2] is None
    forged = [nonces[0][0], nonces[0][1], nonces[0][0]]
    with pytest.raises(ValueError, match="holding no signer"):
        musig.distribute_chunk(items, [forged], tables)
