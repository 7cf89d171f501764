"""Ticketed DLC contract parameters and the keys that index every map of the contract.

The types mirror dlctix: a market maker, players indexed by their position, an oracle event
given by its locking points, payout weights per outcome, one fee rate and one relative timelock
unit Δ. Map keys sort exactly as Rust's ``BTreeMap`` sorts them: attestation outcomes by index,
expiry last; win conditions by ``(outcome, player index)``.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from ticketdlc.bitcoin.anchor import P2A_DUST_VALUE, anchor_output
from ticketdlc.bitcoin.tx import TxOut
from ticketdlc.contract.errors import ContractDecodeError
from ticketdlc.crypto.secp import Point

PlayerIndex = int
OutcomeIndex = int
PayoutWeights = Mapping[PlayerIndex, int]
"""Winner index → weight; a player who wins nothing in an outcome has no entry."""

_EXPIRY_CODE: Final = 1 << 64  # sorts after every attestation index (a u64/usize)
_OUTCOME_RE: Final = re.compile(r"att(0|[1-9][0-9]{0,19})|exp")
_WIN_CONDITION_RE: Final = re.compile(r"(att(?:0|[1-9][0-9]{0,19})|exp):p(0|[1-9][0-9]{0,19})")
U64_MAX: Final = (1 << 64) - 1
U32_MAX: Final = (1 << 32) - 1


@dataclass(frozen=True, slots=True, order=True)
class Outcome:
    """``Attestation(i)`` (the oracle attests outcome ``i``) or ``Expiry``.

    Build with :meth:`attestation` or use :data:`EXPIRY`; ``str()`` gives ``"att{i}"``/``"exp"``.
    """

    code: int

    @classmethod
    def attestation(cls, index: int) -> Outcome:
        """The outcome unlocked by the oracle's attestation to outcome ``index``."""
        if not 0 <= index <= U64_MAX:
            raise ValueError("outcome index out of range")
        return cls(index)

    @property
    def is_expiry(self) -> bool:
        """True for the expiry outcome."""
        return self.code == _EXPIRY_CODE

    @property
    def index(self) -> int | None:
        """The attestation index, or ``None`` for expiry."""
        return None if self.code == _EXPIRY_CODE else self.code

    @property
    def script_commitment(self) -> int:
        """The number an outcome-bound split leaf commits to: the index, or -1 for expiry."""
        return -1 if self.code == _EXPIRY_CODE else self.code

    @classmethod
    def parse(cls, text: str) -> Outcome:
        """Parse ``"att{i}"`` or ``"exp"`` (canonical decimal only)."""
        if not _OUTCOME_RE.fullmatch(text):
            raise ContractDecodeError(f"invalid outcome {text!r}: expected 'att<index>' or 'exp'")
        return EXPIRY if text == "exp" else cls.attestation(int(text[3:]))

    def __str__(self) -> str:
        return "exp" if self.code == _EXPIRY_CODE else f"att{self.code}"

    def __repr__(self) -> str:
        return f"Outcome({self})"


EXPIRY: Final = Outcome(_EXPIRY_CODE)


@dataclass(frozen=True, slots=True, order=True)
class WinCondition:
    """One winner of one outcome: ``"att{i}:p{j}"`` or ``"exp:p{j}"``."""

    outcome: Outcome
    player_index: PlayerIndex

    @classmethod
    def parse(cls, text: str) -> WinCondition:
        """Parse ``"att{i}:p{j}"`` or ``"exp:p{j}"``."""
        match = _WIN_CONDITION_RE.fullmatch(text)
        if match is None:
            raise ContractDecodeError(f"invalid win condition {text!r}")
        player = int(match.group(2))
        if player > U64_MAX:
            raise ContractDecodeError(f"invalid win condition {text!r}")
        return cls(Outcome.parse(match.group(1)), player)

    def __str__(self) -> str:
        return f"{self.outcome}:p{self.player_index}"

    def __repr__(self) -> str:
        return f"WinCondition({self})"


class ContractLayout(enum.Enum):
    """How split leaves are bound to outcomes.

    ``LEGACY`` builds exactly what dlctix 0.0.x/0.1.0 builds: outcomes with the same winner set
    share one outcome transaction, so a split transaction signed for one outcome can spend the
    other's output. ``OUTCOME_BOUND`` (dlctix ``outcome_bound_splits``) commits the outcome in
    every split leaf, closing that hole. New contracts use ``OUTCOME_BOUND``.
    """

    LEGACY = "legacy"
    OUTCOME_BOUND = "outcome_bound"


DEFAULT_LAYOUT: Final = ContractLayout.OUTCOME_BOUND


@dataclass(frozen=True, slots=True)
class AnchorParams:
    """A pay-to-anchor output of ``value`` sats on every pre-signed settlement transaction
    (dlctix ``AnchorParams``), so any party can bump a stuck one by CPFP."""

    value: int = P2A_DUST_VALUE

    def output(self) -> TxOut:
        """The anchor output."""
        return anchor_output(self.value)


DEFAULT_ANCHOR: Final = AnchorParams()
"""dlctix ``AnchorParams::default()``: 240 sats, the P2A dust limit."""


@dataclass(frozen=True, slots=True)
class MarketMaker:
    """The party that funds the contract and co-signs everything."""

    pubkey: Point


@dataclass(frozen=True, slots=True)
class Player:
    """A player: an (ephemeral) key, the ticket hash it buys, the payout hash it reveals."""

    pubkey: Point
    ticket_hash: bytes
    payout_hash: bytes

    def __post_init__(self) -> None:
        if len(self.ticket_hash) != 32 or len(self.payout_hash) != 32:
            raise ValueError("ticket and payout hashes are 32 bytes")


@dataclass(frozen=True, slots=True)
class EventLockingConditions:
    """The oracle event: one locking point per outcome index, and an optional expiry.

    A locking point of ``None`` is the point at infinity (dlctix ``MaybePoint::Infinity``),
    which validation refuses. ``expiry`` is an nLockTime value (height below 500,000,000,
    otherwise unix time).
    """

    locking_points: tuple[Point | None, ...]
    expiry: int | None

    def is_valid_outcome(self, outcome: Outcome) -> bool:
        """True if the event can produce ``outcome``."""
        if outcome.is_expiry:
            return self.expiry is not None
        return outcome.code < len(self.locking_points)


def _freeze_payouts(
    payouts: Mapping[Outcome, Mapping[PlayerIndex, int]],
) -> Mapping[Outcome, PayoutWeights]:
    ordered = {
        outcome: MappingProxyType(dict(sorted(weights.items())))
        for outcome, weights in sorted(payouts.items())
    }
    return MappingProxyType(ordered)


@dataclass(frozen=True)
class ContractParameters:
    """Everything all parties must agree on to build the same contract (dlctix field order).

    ``fee_rate`` is in sat per 1000 weight units (1 sat/vB = 250). ``outcome_payouts`` is kept
    in ``BTreeMap`` order whatever order it was given in. ``anchor`` (dlctix field 8, given
    by keyword) adds a pay-to-anchor output as the last output of every outcome, expiry and
    split transaction; ``None`` builds exactly what dlctix 0.1.0 builds.
    """

    market_maker: MarketMaker
    players: tuple[Player, ...]
    event: EventLockingConditions
    outcome_payouts: Mapping[Outcome, PayoutWeights]
    fee_rate: int
    funding_value: int
    relative_locktime_block_delta: int
    outcome_bound_splits: bool = False
    anchor: AnchorParams | None = field(default=None, kw_only=True)
    _winners: Mapping[Outcome, tuple[PlayerIndex, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "players", tuple(self.players))
        object.__setattr__(self, "outcome_payouts", _freeze_payouts(self.outcome_payouts))
        winners = {outcome: tuple(w) for outcome, w in self.outcome_payouts.items()}
        object.__setattr__(self, "_winners", MappingProxyType(winners))

    @property
    def layout(self) -> ContractLayout:
        """The split-leaf layout these parameters select."""
        return ContractLayout.OUTCOME_BOUND if self.outcome_bound_splits else ContractLayout.LEGACY

    def with_layout(self, layout: ContractLayout) -> ContractParameters:
        """A copy using ``layout``."""
        return dataclasses.replace(
            self, outcome_bound_splits=layout is ContractLayout.OUTCOME_BOUND
        )

    def with_anchor(self, anchor: AnchorParams | None) -> ContractParameters:
        """A copy with ``anchor`` (``None``: no anchor outputs)."""
        return dataclasses.replace(self, anchor=anchor)

    @property
    def anchor_value(self) -> int:
        """The anchor output's value, 0 without an anchor."""
        return 0 if self.anchor is None else self.anchor.value

    def anchor_output(self) -> TxOut | None:
        """The anchor output every pre-signed transaction ends with, if any."""
        return None if self.anchor is None else self.anchor.output()

    @property
    def reclaim_block_delay(self) -> int:
        """``2Δ``: the market maker's reclaim delay on outcome and split outputs."""
        return 2 * self.relative_locktime_block_delta

    def winners(self, outcome: Outcome) -> tuple[PlayerIndex, ...]:
        """The winners of ``outcome`` in ascending index order."""
        return self._winners[outcome]

    def win_conditions(self) -> Iterator[WinCondition]:
        """Every win condition in ``BTreeMap`` order."""
        for outcome, winners in self._winners.items():
            for player in winners:
                yield WinCondition(outcome, player)

    def player_index(self, pubkey: Point) -> PlayerIndex | None:
        """Index of the player with ``pubkey`` (the first if keys repeat)."""
        for index, player in enumerate(self.players):
            if player.pubkey == pubkey:
                return index
        return None

    def signer_pubkeys(self) -> list[Point]:
        """The market maker's key followed by every player's key."""
        return [self.market_maker.pubkey, *(p.pubkey for p in self.players)]

    def win_conditions_claimable_by(self, pubkey: Point) -> list[WinCondition] | None:
        """Win conditions ``pubkey`` can claim: all for the market maker, a player's own
        otherwise; ``None`` if the key is not part of the contract."""
        if pubkey == self.market_maker.pubkey:
            return list(self.win_conditions())
        index = self.player_index(pubkey)
        if index is None:
            return None
        return [
            WinCondition(outcome, index)
            for outcome, winners in self._winners.items()
            if index in winners
        ]
