"""BIP-341 taproot: leaf and branch hashes, the output-key tweak, script trees, control blocks.

Trees are built either from an explicit nested shape (:func:`TaprootSpendInfo.from_tree`) or
with rust-bitcoin's Huffman construction (:func:`TaprootSpendInfo.from_huffman`), whose
tie-break decides the merkle root and must be reproduced exactly.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from ticketdlc.bitcoin.encoding import ser_bytes
from ticketdlc.bitcoin.script import p2tr_script
from ticketdlc.crypto.secp import CURVE_ORDER, Point, scalar_from_bytes_nonzero, tagged_hash

TAPSCRIPT_LEAF_VERSION: Final = 0xC0
MAX_HUFFMAN_WEIGHT: Final = 0xFFFF_FFFF
TAPROOT_CONTROL_MAX_DEPTH: Final = 128


class TaprootError(ValueError):
    """Invalid taproot input (tweak out of range, unknown leaf, bad tree)."""


def leaf_hash(script: bytes, leaf_version: int = TAPSCRIPT_LEAF_VERSION) -> bytes:
    """``tagged_hash("TapLeaf", leaf_version || compact_size(len) || script)``."""
    if leaf_version & 1 or not 0 <= leaf_version <= 0xFE:
        raise TaprootError("invalid leaf version")
    return tagged_hash("TapLeaf", bytes((leaf_version,)) + ser_bytes(script))


def branch_hash(left: bytes, right: bytes) -> bytes:
    """``tagged_hash("TapBranch", min(a, b) || max(a, b))``."""
    if right < left:
        left, right = right, left
    return tagged_hash("TapBranch", left + right)


def tap_tweak(internal_xonly: bytes, merkle_root: bytes | None) -> int:
    """The BIP-341 tweak scalar ``int(tagged_hash("TapTweak", P || root))``; must be < n."""
    if len(internal_xonly) != 32:
        raise TaprootError("an internal key is 32 bytes")
    data = internal_xonly if merkle_root is None else internal_xonly + merkle_root
    tweak = int.from_bytes(tagged_hash("TapTweak", data), "big")
    if tweak >= CURVE_ORDER:
        raise TaprootError("tap tweak out of range")
    return tweak


def output_key(internal_xonly: bytes, merkle_root: bytes | None) -> tuple[bytes, int]:
    """Tweaked output key: ``(x-only Q, parity of Q)`` with ``Q = lift_x(P) + t·G``."""
    tweak = tap_tweak(internal_xonly, merkle_root)
    try:
        internal = Point.from_xonly(internal_xonly)
    except ValueError as exc:
        raise TaprootError("internal key is not a valid x coordinate") from exc
    q = internal.add_base_mul(tweak)
    return q.xonly(), 0 if q.has_even_y() else 1


def tweak_secret_key(secret: bytes, merkle_root: bytes | None) -> bytes:
    """The secret key of the tweaked output key for an internal secret key (BIP-341 signing)."""
    d = scalar_from_bytes_nonzero(secret)
    internal = Point.from_secret(d)
    if not internal.has_even_y():
        d = CURVE_ORDER - d
    tweaked = (d + tap_tweak(internal.xonly(), merkle_root)) % CURVE_ORDER
    if tweaked == 0:
        raise TaprootError("tweaked secret key is zero")
    return tweaked.to_bytes(32, "big")


def control_block(
    internal_xonly: bytes,
    output_parity: int,
    merkle_path: Sequence[bytes],
    leaf_version: int = TAPSCRIPT_LEAF_VERSION,
) -> bytes:
    """``(leaf_version | parity) || internal key || sibling hashes from the leaf upward``."""
    if len(merkle_path) > TAPROOT_CONTROL_MAX_DEPTH:
        raise TaprootError("merkle path too long")
    return bytes((leaf_version | (output_parity & 1),)) + internal_xonly + b"".join(merkle_path)


@dataclass(frozen=True, slots=True)
class TapLeaf:
    """A script leaf."""

    script: bytes
    leaf_version: int = TAPSCRIPT_LEAF_VERSION

    @property
    def hash(self) -> bytes:
        """The TapLeaf hash."""
        return leaf_hash(self.script, self.leaf_version)


# A tree shape: a leaf, or a pair of subtrees (left, right).
TapTree: TypeAlias = "TapLeaf | tuple[TapTree, TapTree]"


class _Node:
    __slots__ = ("hash", "leaves")

    def __init__(self, node_hash: bytes, leaves: list[tuple[TapLeaf, list[bytes]]]) -> None:
        self.hash = node_hash
        self.leaves = leaves  # (leaf, merkle path from the leaf upward so far)

    @staticmethod
    def leaf(leaf: TapLeaf) -> _Node:
        return _Node(leaf.hash, [(leaf, [])])

    @staticmethod
    def combine(a: _Node, b: _Node) -> _Node:
        for _, path in a.leaves:
            path.append(b.hash)
        for _, path in b.leaves:
            path.append(a.hash)
        return _Node(branch_hash(a.hash, b.hash), a.leaves + b.leaves)


@dataclass(frozen=True, slots=True)
class TaprootSpendInfo:
    """A taproot output: internal key, merkle root, tweaked output key and every leaf's path."""

    internal_key: bytes
    merkle_root: bytes | None
    output_key: bytes
    output_parity: int
    leaf_paths: Mapping[TapLeaf, tuple[bytes, ...]]

    @classmethod
    def _finish(cls, internal_xonly: bytes, root: _Node | None) -> TaprootSpendInfo:
        merkle_root = None if root is None else root.hash
        key, parity = output_key(internal_xonly, merkle_root)
        paths: dict[TapLeaf, tuple[bytes, ...]] = {}
        if root is not None:
            for leaf, path in root.leaves:
                # A duplicated leaf keeps its shortest path (rust-bitcoin keeps a set).
                if leaf not in paths or len(path) < len(paths[leaf]):
                    paths[leaf] = tuple(path)
        return cls(internal_xonly, merkle_root, key, parity, paths)

    @classmethod
    def key_only(cls, internal_xonly: bytes) -> TaprootSpendInfo:
        """An output without a script tree (tweak over the key alone)."""
        return cls._finish(internal_xonly, None)

    @classmethod
    def from_tree(cls, internal_xonly: bytes, tree: TapTree) -> TaprootSpendInfo:
        """An output with the given explicit tree shape."""

        def build(node: TapTree, depth: int) -> _Node:
            if depth > TAPROOT_CONTROL_MAX_DEPTH:
                raise TaprootError("tree too deep")
            if isinstance(node, TapLeaf):
                return _Node.leaf(node)
            left, right = node
            return _Node.combine(build(left, depth + 1), build(right, depth + 1))

        return cls._finish(internal_xonly, build(tree, 0))

    @classmethod
    def from_huffman(
        cls, internal_xonly: bytes, weighted_scripts: Iterable[tuple[int, bytes]]
    ) -> TaprootSpendInfo:
        """rust-bitcoin ``TaprootSpendInfo::with_huffman_tree``.

        Repeatedly joins the two lightest nodes (weights saturate at 2^32-1). Among equal
        weights the node with the lexicographically *largest* hash is taken first, which is
        rust-bitcoin's max-heap order on ``(Reverse(weight), node hash)``.
        """
        heap: list[tuple[int, bytes, int, _Node]] = []
        counter = 0
        for weight, script in weighted_scripts:
            if not 0 <= weight <= MAX_HUFFMAN_WEIGHT:
                raise TaprootError("leaf weight out of range")
            node = _Node.leaf(TapLeaf(script))
            heap.append((weight, _invert(node.hash), counter, node))
            counter += 1
        if not heap:
            raise TaprootError("a script tree needs at least one leaf")
        heapq.heapify(heap)
        while len(heap) > 1:
            weight_a, _, _, a = heapq.heappop(heap)
            weight_b, _, _, b = heapq.heappop(heap)
            node = _Node.combine(a, b)
            weight = min(weight_a + weight_b, MAX_HUFFMAN_WEIGHT)
            heapq.heappush(heap, (weight, _invert(node.hash), counter, node))
            counter += 1
        return cls._finish(internal_xonly, heap[0][3])

    @property
    def script_pubkey(self) -> bytes:
        """``OP_1 <output key>``."""
        return p2tr_script(self.output_key)

    def merkle_path(self, leaf: TapLeaf | bytes) -> tuple[bytes, ...]:
        """Sibling hashes from ``leaf`` (a TapLeaf or a tapscript) up to the root."""
        key = leaf if isinstance(leaf, TapLeaf) else TapLeaf(leaf)
        try:
            return self.leaf_paths[key]
        except KeyError:
            raise TaprootError("leaf not in this tree") from None

    def control_block(self, leaf: TapLeaf | bytes) -> bytes:
        """The control block that proves ``leaf`` is committed in this output."""
        key = leaf if isinstance(leaf, TapLeaf) else TapLeaf(leaf)
        return control_block(
            self.internal_key, self.output_parity, self.merkle_path(key), key.leaf_version
        )

    def tweak(self) -> int:
        """The tweak scalar applied to the internal key."""
        return tap_tweak(self.internal_key, self.merkle_root)


def _invert(node_hash: bytes) -> bytes:
    # Makes Python's min-heap pop the largest hash first among equal weights.
    return bytes(255 - byte for byte in node_hash)


def verify_control_block(output_xonly: bytes, script: bytes, control: bytes) -> bool:
    """True if ``control`` proves ``script`` against the output key (BIP-341 script path)."""
    if len(control) < 33 or (len(control) - 33) % 32 or len(control) > 33 + 32 * 128:
        return False
    leaf_version = control[0] & 0xFE
    parity = control[0] & 1
    internal = control[1:33]
    node = leaf_hash(script, leaf_version)
    for offset in range(33, len(control), 32):
        node = branch_hash(node, control[offset : offset + 32])
    try:
        key, key_parity = output_key(internal, node)
    except TaprootError:
        return False
    return key == output_xonly and key_parity == parity
