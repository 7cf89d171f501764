"""Taproot trees, tweaks and control blocks: BIP-341 wallet vectors and the dlctix Huffman rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ticketdlc.bitcoin.address import encode_segwit_address
from ticketdlc.bitcoin.taproot import (
    TapLeaf,
    TaprootError,
    TaprootSpendInfo,
    TapTree,
    branch_hash,
    leaf_hash,
    output_key,
    tap_tweak,
    verify_control_block,
)


def to_tree(node: Any, leaves: dict[int, TapLeaf]) -> TapTree:
    if isinstance(node, dict):
        leaf = TapLeaf(bytes.fromhex(node["script"]), node["leafVersion"])
        leaves[node["id"]] = leaf
        return leaf
    left, right = node
    return (to_tree(left, leaves), to_tree(right, leaves))


def test_bip341_script_pubkey_vectors(vectors_dir: Path) -> None:
    data = json.loads((vectors_dir / "bip341" / "wallet-test-vectors.json").read_text())
    cases = data["scriptPubKey"]
    assert len(cases) == 7
    for case in cases:
        given, inter, expected = case["given"], case["intermediary"], case["expected"]
        internal = bytes.fromhex(given["internalPubkey"])
        leaves: dict[int, TapLeaf] = {}
        if given["scriptTree"] is None:
            info = TaprootSpendInfo.key_only(internal)
        else:
            info = TaprootSpendInfo.from_tree(internal, to_tree(given["scriptTree"], leaves))
        ordered = [leaves[i] for i in sorted(leaves)]
        assert [leaf.hash.hex() for leaf in ordered] == inter.get("leafHashes", [])
        assert (info.merkle_root.hex() if info.merkle_root else None) == inter["merkleRoot"]
        assert tap_tweak(internal, info.merkle_root).to_bytes(32, "big").hex() == inter["tweak"]
        assert info.output_key.hex() == inter["tweakedPubkey"]
        assert info.script_pubkey.hex() == expected["scriptPubKey"]
        assert encode_segwit_address("bc", 1, info.output_key) == expected["bip350Address"]
        blocks = [info.control_block(leaf) for leaf in ordered]
        assert [b.hex() for b in blocks] == expected.get("scriptPathControlBlocks", [])
        for leaf, block in zip(ordered, blocks, strict=True):
            assert verify_control_block(info.output_key, leaf.script, block)
            assert not verify_control_block(info.output_key, leaf.script + b"\x00", block)


def test_branch_hash_is_order_independent() -> None:
    a, b = leaf_hash(b"\x51"), leaf_hash(b"\x52")
    assert branch_hash(a, b) == branch_hash(b, a)


def test_invalid_leaf_version_and_unknown_leaf() -> None:
    with pytest.raises(TaprootError):
        leaf_hash(b"", 0xC1)
    info = TaprootSpendInfo.from_huffman(b"\x02" * 32, [(1, b"\x51")])
    with pytest.raises(TaprootError):
        info.control_block(b"\x52")


# dlctix §12 fixture (compat.json): market maker 12·G, players 10·G, 11·G, 13·G, Δ = 432.
MM_X = bytes.fromhex("d01115d548e7561b15c38f004d734633687cf4419620095bc5b0f47070afe85a")
RECLAIM_LEAF = bytes.fromhex("026003b27520") + MM_X + b"\xac"


def split_leaf(ticket_hash: bytes, joint_x: bytes) -> bytes:
    return b"\xa8\x20" + ticket_hash + b"\x88\x20" + joint_x + b"\xac"


def compat(vectors_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors_dir / "dlctix" / "compat.json").read_text())
    return data


def test_dlctix_outcome_tree_two_winners(vectors_dir: Path) -> None:
    players = compat(vectors_dir)["params"]["players"]
    joint_x = bytes.fromhex("f16ba35d798d1614894456716f5145539e71bc165af8bb63a56aad96371b580a")
    leaves = [(1, split_leaf(bytes.fromhex(players[j]["ticket_hash"]), joint_x)) for j in (1, 2)]
    assert leaves[0][1].hex() == (
        "a82075877bb41d393b5fb8455ce60ecd8dda001d06316496b14dfa7f895656eeca4a88"
        "20f16ba35d798d1614894456716f5145539e71bc165af8bb63a56aad96371b580aac"
    )
    info = TaprootSpendInfo.from_huffman(joint_x, [*leaves, (2**32 - 1, RECLAIM_LEAF)])
    assert info.merkle_root is not None
    assert info.merkle_root.hex() == (
        "20f71d86195d30ec512b58f45d8ff269adefa0f104e00c9c0b5b9caac628aa32"
    )
    assert info.output_key.hex() == (
        "2fb87954376a2798a3db3c32d950bad4a9fd0a888eab6e5931b6f5c774bf00f7"
    )
    assert info.output_parity == 1
    assert info.control_block(RECLAIM_LEAF)[0] == 0xC1
    assert len(info.control_block(RECLAIM_LEAF)) == 33 + 32
    assert len(info.control_block(leaves[0][1])) == 33 + 64


def test_dlctix_expiry_tree_three_winners_tie_break(vectors_dir: Path) -> None:
    """Three equal-weight leaves: only rust-bitcoin's tie-break gives the pinned output key."""
    data = compat(vectors_dir)
    players = data["params"]["players"]
    # Every player wins the expiry outcome, so its joint key is the funding key Q_f.
    joint_x = bytes.fromhex(data["funding_script_pubkey"])[2:]
    leaves = [(1, split_leaf(bytes.fromhex(p["ticket_hash"]), joint_x)) for p in players]
    info = TaprootSpendInfo.from_huffman(joint_x, [*leaves, (2**32 - 1, RECLAIM_LEAF)])
    expiry_tx = data["outcome_txs"]["exp"]
    assert info.script_pubkey.hex() in expiry_tx
    depths = sorted(len(info.merkle_path(script)) for _, script in leaves)
    assert depths == [2, 3, 3]
    # The opposite tie-break produces another tree and therefore another output key.
    reversed_info = _huffman_smallest_hash_first(joint_x, [*leaves, (2**32 - 1, RECLAIM_LEAF)])
    assert reversed_info != info.output_key


def _huffman_smallest_hash_first(internal: bytes, weighted: list[tuple[int, bytes]]) -> bytes:
    import heapq

    heap = [(w, leaf_hash(s)) for w, s in weighted]
    heapq.heapify(heap)
    while len(heap) > 1:
        wa, ha = heapq.heappop(heap)
        wb, hb = heapq.heappop(heap)
        heapq.heappush(heap, (min(wa + wb, 2**32 - 1), branch_hash(ha, hb)))
    return output_key(internal, heap[0][1])[0]
