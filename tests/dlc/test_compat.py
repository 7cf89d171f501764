"""The dlctix compat vector (tests/compat.rs) reproduced exactly in the legacy layout."""

from __future__ import annotations

import hashlib
from typing import Any

from ticketdlc.bitcoin.script import push_int
from ticketdlc.bitcoin.taproot import leaf_hash
from ticketdlc.bitcoin.tx import OutPoint
from ticketdlc.contract import EXPIRY, ContractLayout, Outcome, TicketedDLC, WinCondition
from ticketdlc.contract.jsoncodec import params_from_json


def test_every_transaction_and_sighash_matches(
    compat: dict[str, Any], compat_dlc: TicketedDLC
) -> None:
    dlc = compat_dlc
    assert dlc.params.layout is ContractLayout.LEGACY
    assert dlc.funding_output.script_pubkey.hex() == compat["funding_script_pubkey"]
    assert dlc.funding_output.value == 300_000
    assert dlc.outcome_value == compat["outcome_value"]
    assert {str(o): tx.hex() for o, tx in dlc.outcome_txs.items()} == compat["outcome_txs"]
    assert {str(o): tx.hex() for o, tx in dlc.split_txs.items()} == compat["split_txs"]
    assert {str(o): h.hex() for o, h in dlc.outcome_sighashes.items()} == compat[
        "outcome_sighashes"
    ]
    assert {str(w): h.hex() for w, h in dlc.split_sighashes.items()} == compat["split_sighashes"]


def test_digest_matches_the_pinned_value(compat: dict[str, Any], compat_dlc: TicketedDLC) -> None:
    dlc = compat_dlc
    parts = [tx.txid() for tx in dlc.outcome_txs.values()]
    parts += [tx.txid() for tx in dlc.split_txs.values()]
    parts += list(dlc.outcome_sighashes.values())
    parts += list(dlc.split_sighashes.values())
    digest = hashlib.sha256(b"".join(parts)).hexdigest()
    assert (
        digest
        == compat["digest"]
        == ("11852c4e334f5b432fd612fe391c03981b4223684698990f9e1187ad49f371ee")
    )


def test_scripts_keys_and_tree_of_outcome_att1(compat_dlc: TicketedDLC) -> None:
    """dlctix spec §12: the att1 joint key, leaves, merkle root and output key parity."""
    info = compat_dlc.outcome_infos[Outcome.attestation(1)]
    assert info.keys.aggregate.hex() == (
        "02f16ba35d798d1614894456716f5145539e71bc165af8bb63a56aad96371b580a"
    )
    assert info.split_leaves[1].hex() == (
        "a82075877bb41d393b5fb8455ce60ecd8dda001d06316496b14dfa7f895656eeca4a88"
        "20f16ba35d798d1614894456716f5145539e71bc165af8bb63a56aad96371b580aac"
    )
    assert info.reclaim_script.hex() == (
        "026003b27520d01115d548e7561b15c38f004d734633687cf4419620095bc5b0f47070afe85aac"
    )
    assert info.tree.merkle_root is not None
    assert info.tree.merkle_root.hex() == (
        "20f71d86195d30ec512b58f45d8ff269adefa0f104e00c9c0b5b9caac628aa32"
    )
    assert info.tree.output_key.hex() == (
        "2fb87954376a2798a3db3c32d950bad4a9fd0a888eab6e5931b6f5c774bf00f7"
    )
    assert info.tree.control_block(info.split_leaves[1])[0] == 0xC1
    assert compat_dlc.split_infos[1].win_script.hex() == (
        "02b001b275a82075877bb41d393b5fb8455ce60ecd8dda001d06316496b14dfa7f895656eeca4a88"
        "20774ae7f858a9411e5ef4246b70c65aac5649980be5c17891bbec17895da008cbac"
    )


def test_funding_signer_order_and_split_amounts(compat_dlc: TicketedDLC) -> None:
    assert [pk.hex()[:10] for pk in compat_dlc.funding.keys.pubkeys] == [
        "03774ae7f8",
        "03a0434d9e",
        "03d01115d5",
        "03f28773c2",
    ]
    assert compat_dlc.funding.keys.aggregate.hex() == (
        "02ff9f8f0f8c83ce4a8075cf4d2194a82c917120ae75ddac525a8d606a9fc96671"
    )
    att1 = compat_dlc.split_txs[Outcome.attestation(1)]
    assert [out.value for out in att1.outputs] == [98_609, 198_239]
    assert compat_dlc.split_txs[Outcome.attestation(0)].outputs[0].value == 297_357
    # Split outputs of the same player are identical across outcomes.
    exp = compat_dlc.split_txs[EXPIRY]
    assert exp.outputs[1].script_pubkey == att1.outputs[0].script_pubkey


def test_outcome_bound_layout_commits_the_outcome(compat: dict[str, Any]) -> None:
    legacy = params_from_json(compat["params"])
    bound = legacy.with_layout(ContractLayout.OUTCOME_BOUND)
    dlc = TicketedDLC.new(bound, OutPoint(b"\x5a" * 32, 1))
    for outcome, info in dlc.outcome_infos.items():
        for leaf in info.split_leaves.values():
            assert leaf.startswith(push_int(outcome.script_commitment) + b"\x75")
    assert dlc.outcome_infos[EXPIRY].split_leaves[0][:2] == bytes.fromhex("4f75")  # -1 DROP
    assert dlc.outcome_infos[Outcome.attestation(0)].split_leaves[0][:2] == bytes.fromhex("0075")
    # Every sighash differs from the legacy one; the funding output does not.
    assert dlc.funding_output.script_pubkey.hex() == compat["funding_script_pubkey"]
    assert not set(h.hex() for h in dlc.outcome_sighashes.values()) & set(
        compat["outcome_sighashes"].values()
    )
    win = WinCondition(Outcome.attestation(1), 1)
    leaf = dlc.outcome_infos[win.outcome].split_leaves[1]
    assert len(leaf) == 71
    assert leaf_hash(leaf) != leaf_hash(leaf[2:])
