"""Wallet descriptors from the coordinator key: the extended public key hides the secret."""

from __future__ import annotations

import bdkpython as bdk
from embit import base58

from coordinator.adapters.wallet.keys import root_xprv, wallet_descriptors

SECRET = bytes(range(1, 33))


def test_root_key_is_the_secret_with_a_derived_chain_code() -> None:
    payload = base58.decode_check(root_xprv(SECRET, "regtest"))
    assert payload[:4] == bytes.fromhex("04358394")  # tprv
    assert payload[4:13] == bytes(9)  # depth 0, no parent, child 0
    assert payload[-32:] == SECRET
    assert payload[13:45] != SECRET  # upstream used the secret as the chain code
    assert root_xprv(SECRET, "bitcoin").startswith("xprv")
    assert root_xprv(SECRET, "regtest") == root_xprv(SECRET, "regtest")


def test_public_descriptor_does_not_reveal_the_secret() -> None:
    descriptors = wallet_descriptors(SECRET, "regtest")
    assert descriptors.external.endswith("/0/*)") and descriptors.internal.endswith("/1/*)")
    public = str(bdk.Descriptor(descriptors.external, bdk.NetworkKind.TEST))
    xpub = public[public.index("tpub") :].split("/")[0]
    assert SECRET not in base58.decode_check(xpub)
