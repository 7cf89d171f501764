"""The three kinds of contract outputs: funding, outcome and split (dlctix §4–§6).

Each ``*SpendInfo`` knows its key-aggregation context, its taproot tree, its scriptPubKey and
how to build the witnesses that spend it. Witness builders here do not check sequences or
inputs; :mod:`ticketdlc.contract.settlement` does, before calling them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Final

from ticketdlc.bitcoin.fees import SCHNORR_SIGNATURE_SIZE, InputWeightPrediction
from ticketdlc.bitcoin.script import p2tr_script
from ticketdlc.bitcoin.sighash import SIGHASH_DEFAULT, SighashCache
from ticketdlc.bitcoin.taproot import TaprootSpendInfo, leaf_hash, tap_tweak
from ticketdlc.bitcoin.tx import Transaction, TxOut
from ticketdlc.contract.errors import SpendError
from ticketdlc.contract.scripts import outcome_split_leaf, reclaim_leaf, sellback_leaf, win_leaf
from ticketdlc.contract.types import MarketMaker, Outcome, Player, PlayerIndex
from ticketdlc.crypto import bip340, musig2
from ticketdlc.crypto.secp import CURVE_ORDER, Point

MAX_LEAF_WEIGHT: Final = 0xFFFF_FFFF
PREIMAGE_SIZE: Final = 32
CONTROL_BASE_SIZE: Final = 33
CONTROL_NODE_SIZE: Final = 32


@dataclass(frozen=True, slots=True)
class KeyContext:
    """A BIP-327 key aggregation over a sorted signer list (untweaked)."""

    pubkeys: tuple[bytes, ...]
    aggregate: Point

    @classmethod
    def of(cls, points: Sequence[Point]) -> KeyContext:
        """Sort ``points`` by compressed encoding (KeySort) and aggregate them."""
        pubkeys = tuple(sorted(p.to_bytes() for p in points))
        return cls(pubkeys, musig2.key_agg(pubkeys).Q)

    @property
    def xonly(self) -> bytes:
        """x-only aggregate key (pushed in split leaves, used as taproot internal key)."""
        return self.aggregate.xonly()

    def coefficient(self, pubkey: bytes) -> int:
        """The KeyAgg coefficient of ``pubkey``."""
        return musig2.key_agg_coeff(self.pubkeys, pubkey)

    def group_secret(
        self, secrets: Mapping[bytes, bytes], merkle_root: bytes | None, tweaked: bool
    ) -> bytes:
        """The secret key of the (tweaked) aggregate key, from every signer's secret key.

        ``secrets`` maps each 33-byte public key to its 32-byte secret; the result is checked
        against the aggregate key before it is returned.
        """
        tweaks = [] if not tweaked else [_tap_tweak_bytes(self.xonly, merkle_root)]
        ctx = musig2.key_agg_and_tweak(self.pubkeys, tweaks, [True] * len(tweaks))
        total = 0
        for pubkey in self.pubkeys:
            secret = secrets.get(pubkey)
            if secret is None:
                raise SpendError(f"missing the secret key of {pubkey.hex()}")
            d = int.from_bytes(secret, "big")
            if not 0 < d < CURVE_ORDER or Point.from_secret(d).to_bytes() != pubkey:
                raise SpendError(f"the secret key given for {pubkey.hex()} does not match it")
            total += self.coefficient(pubkey) * d
        group = (ctx.gacc * total + ctx.tacc) % CURVE_ORDER
        if group == 0 or Point.from_secret(group) != ctx.Q:
            raise SpendError("the aggregated secret key does not match the aggregate key")
        return group.to_bytes(32, "big")


def _tap_tweak_bytes(internal_xonly: bytes, merkle_root: bytes | None) -> bytes:
    return tap_tweak(internal_xonly, merkle_root).to_bytes(32, "big")


def sign_key_path(secret: bytes, tx: Transaction, index: int, prevouts: Sequence[TxOut]) -> bytes:
    """Deterministic BIP-340 key-path signature (dlctix ``sign_solo``), ``SIGHASH_DEFAULT``."""
    sighash = SighashCache(tx, prevouts).taproot(index, SIGHASH_DEFAULT)
    return bip340.sign_deterministic(secret, sighash)


def sign_script_path(
    secret: bytes, tx: Transaction, index: int, prevouts: Sequence[TxOut], script: bytes
) -> bytes:
    """Deterministic BIP-340 script-path signature for ``script``, ``SIGHASH_DEFAULT``."""
    sighash = SighashCache(tx, prevouts).taproot(
        index, SIGHASH_DEFAULT, leaf_hash=leaf_hash(script)
    )
    return bip340.sign_deterministic(secret, sighash)


def _max_depth(tree: TaprootSpendInfo) -> int:
    return max(len(path) for path in tree.leaf_paths.values())


# ---------------------------------------------------------------------------------------------
# Funding output


@dataclass(frozen=True, slots=True)
class FundingSpendInfo:
    """The n-of-n funding output: the **untweaked** aggregate of every player and the MM."""

    keys: KeyContext
    value: int

    @classmethod
    def build(
        cls, market_maker: MarketMaker, players: Sequence[Player], value: int
    ) -> FundingSpendInfo:
        """Aggregate the market maker's and every player's key."""
        return cls(KeyContext.of([market_maker.pubkey, *(p.pubkey for p in players)]), value)

    @property
    def script_pubkey(self) -> bytes:
        """``OP_1 <x(Q_f)>`` (no taproot tweak)."""
        return p2tr_script(self.keys.xonly)

    @property
    def output(self) -> TxOut:
        """The output the funding transaction must create."""
        return TxOut(self.value, self.script_pubkey)

    def sighash_outcome_tx(self, outcome_tx: Transaction) -> bytes:
        """Key-path sighash of an outcome (or expiry) transaction spending the funding output."""
        return SighashCache(outcome_tx, (self.output,)).taproot(0, SIGHASH_DEFAULT)


# ---------------------------------------------------------------------------------------------
# Outcome output


class TaprootOutput:
    """What outcome and split outputs share: a key-path spend by the aggregate of their signers
    and script-path spends of single-signature leaves, some of which also reveal a preimage."""

    keys: KeyContext
    tree: TaprootSpendInfo

    def leaf_input_weight(self, leaf: bytes, with_preimage: bool) -> InputWeightPrediction:
        """Weight of an input spending ``leaf``: ``[sig, preimage?, leaf, control block]``."""
        control = len(self.tree.control_block(leaf))
        preimage = (PREIMAGE_SIZE,) if with_preimage else ()
        return InputWeightPrediction(0, (SCHNORR_SIGNATURE_SIZE, *preimage, len(leaf), control))

    def leaf_witness(
        self,
        leaf: bytes,
        tx: Transaction,
        index: int,
        prevouts: Sequence[TxOut],
        secret: bytes,
        preimage: bytes | None = None,
    ) -> list[bytes]:
        """``[sig, preimage (when given), leaf, control block]``, signed by ``secret``."""
        sig = sign_script_path(secret, tx, index, prevouts, leaf)
        revealed = [] if preimage is None else [preimage]
        return [sig, *revealed, leaf, self.tree.control_block(leaf)]

    def close_witness(
        self, tx: Transaction, index: int, prevouts: Sequence[TxOut], secrets: Mapping[bytes, bytes]
    ) -> list[bytes]:
        """``[sig]`` by the tweaked aggregate key of every signer (key path)."""
        group = self.keys.group_secret(secrets, self.tree.merkle_root, tweaked=True)
        return [sign_key_path(group, tx, index, prevouts)]


@dataclass(frozen=True)
class OutcomeSpendInfo(TaprootOutput):
    """An outcome transaction's output: one split leaf per winner plus the MM's reclaim leaf.

    The internal key is the untweaked aggregate of the MM and the winners, also pushed in the
    split leaves (split signatures are made under the untweaked key).
    """

    keys: KeyContext
    value: int
    tree: TaprootSpendInfo
    split_leaves: Mapping[PlayerIndex, bytes]
    reclaim_script: bytes

    @classmethod
    def build(
        cls,
        outcome: Outcome,
        keys: KeyContext,
        winners: Mapping[PlayerIndex, Player],
        market_maker: MarketMaker,
        value: int,
        delta: int,
        outcome_bound: bool,
    ) -> OutcomeSpendInfo:
        """Build the tree (Huffman: winner leaves weight 1, reclaim weight 2^32-1)."""
        commitment = outcome.script_commitment if outcome_bound else None
        split_leaves = {
            index: outcome_split_leaf(player.ticket_hash, keys.xonly, commitment)
            for index, player in winners.items()
        }
        reclaim = reclaim_leaf(2 * delta, market_maker.pubkey.xonly())
        weighted = [(1, script) for script in split_leaves.values()]
        weighted.append((MAX_LEAF_WEIGHT, reclaim))
        tree = TaprootSpendInfo.from_huffman(keys.xonly, weighted)
        return cls(keys, value, tree, split_leaves, reclaim)

    @property
    def script_pubkey(self) -> bytes:
        """P2TR of the tweaked output key."""
        return self.tree.script_pubkey

    @cached_property
    def output(self) -> TxOut:
        """The outcome transaction's output (its value and script)."""
        return TxOut(self.value, self.script_pubkey)

    def split_input_weight(self) -> InputWeightPrediction:
        """Worst-case weight of the split input (the deepest leaf's control block)."""
        leaf_len = len(next(iter(self.split_leaves.values())))
        control = CONTROL_BASE_SIZE + CONTROL_NODE_SIZE * _max_depth(self.tree)
        return InputWeightPrediction(0, (SCHNORR_SIGNATURE_SIZE, PREIMAGE_SIZE, leaf_len, control))

    def split_leaf(self, player: PlayerIndex) -> bytes:
        """The split leaf of winner ``player``."""
        try:
            return self.split_leaves[player]
        except KeyError:
            raise SpendError(f"player {player} does not win this outcome") from None

    def split_witness(
        self, signature: bytes, ticket_preimage: bytes, player: PlayerIndex
    ) -> list[bytes]:
        """``[sig, ticket preimage, split leaf, control block]``."""
        leaf = self.split_leaf(player)
        return [signature, ticket_preimage, leaf, self.tree.control_block(leaf)]


# ---------------------------------------------------------------------------------------------
# Split output


@dataclass(frozen=True)
class SplitSpendInfo(TaprootOutput):
    """A winner's split output: sellback (weight 2), win and reclaim (weight 1) leaves.

    Identical for every outcome a player wins (it depends on the player, the MM and Δ only).
    """

    player_index: PlayerIndex
    keys: KeyContext
    tree: TaprootSpendInfo
    sellback_script: bytes
    win_script: bytes
    reclaim_script: bytes

    @classmethod
    def build(
        cls, player_index: PlayerIndex, player: Player, market_maker: MarketMaker, delta: int
    ) -> SplitSpendInfo:
        """Build the player's split tree."""
        mm_xonly = market_maker.pubkey.xonly()
        keys = KeyContext.of([market_maker.pubkey, player.pubkey])
        sellback = sellback_leaf(player.payout_hash, mm_xonly)
        win = win_leaf(delta, player.ticket_hash, player.pubkey.xonly())
        reclaim = reclaim_leaf(2 * delta, mm_xonly)
        tree = TaprootSpendInfo.from_huffman(keys.xonly, [(2, sellback), (1, win), (1, reclaim)])
        return cls(player_index, keys, tree, sellback, win, reclaim)

    @property
    def script_pubkey(self) -> bytes:
        """P2TR of the tweaked output key."""
        return self.tree.script_pubkey
