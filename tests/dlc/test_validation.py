"""Validation rules (dlctix 0.2.x), size limits and build-time fee and dust failures."""

from __future__ import annotations

import dataclasses

import pytest

from tests.dlc.conftest import FUNDING, make_params, make_party
from ticketdlc.contract import (
    EXPIRY,
    ContractBuildError,
    ContractLayout,
    ContractLimitError,
    ContractLimits,
    ContractParameters,
    ContractValidationError,
    EventLockingConditions,
    MarketMaker,
    Outcome,
    Player,
    TicketedDLC,
    validate,
    validate_stored,
)
from ticketdlc.contract.build import split_payouts
from ticketdlc.contract.validation import signature_counts
from ticketdlc.crypto.secp import Point

A0, A1, A2 = (Outcome.attestation(i) for i in range(3))
POINTS = [Point.from_secret(14), Point.from_secret(15), Point.from_secret(16)]


def base(layout: ContractLayout = ContractLayout.OUTCOME_BOUND) -> ContractParameters:
    party = make_party(3)
    payouts = {A0: {0: 1}, A1: {1: 1, 2: 2}, EXPIRY: {0: 1, 1: 1, 2: 1}}
    return make_params(party, payouts, POINTS[:2], layout=layout)


def rule_of(params: ContractParameters) -> str:
    with pytest.raises(ContractValidationError) as info:
        validate(params)
    return info.value.rule


def test_base_parameters_are_valid() -> None:
    validate(base())
    validate(base(ContractLayout.LEGACY))


def test_player_rules() -> None:
    params = base()
    p0, p1, p2 = params.players
    same_ticket = dataclasses.replace(
        params, players=(p0, Player(p1.pubkey, p0.ticket_hash, p1.payout_hash), p2)
    )
    assert rule_of(same_ticket) == "DuplicateTicketHash"
    same_payout = dataclasses.replace(
        params, players=(p0, Player(p1.pubkey, p1.ticket_hash, p0.payout_hash), p2)
    )
    assert rule_of(same_payout) == "DuplicatePayoutHash"
    crossed = dataclasses.replace(
        params, players=(p0, Player(p1.pubkey, p1.ticket_hash, p0.ticket_hash), p2)
    )
    assert rule_of(crossed) == "TicketPayoutHashCollision"
    same_key = dataclasses.replace(
        params, players=(p0, Player(p0.pubkey, p1.ticket_hash, p1.payout_hash), p2)
    )
    assert rule_of(same_key) == "DuplicatePubkey"
    mm_key = dataclasses.replace(params, market_maker=MarketMaker(p2.pubkey))
    assert rule_of(mm_key) == "DuplicatePubkey"


def test_event_and_payout_rules() -> None:
    params = base()
    infinity = dataclasses.replace(params, event=EventLockingConditions((POINTS[0], None), 800_000))
    assert rule_of(infinity) == "InvalidLockingPoint"
    unknown = dataclasses.replace(params, outcome_payouts={**params.outcome_payouts, A2: {0: 1}})
    assert rule_of(unknown) == "UnknownOutcome"
    no_expiry = dataclasses.replace(params, event=EventLockingConditions(tuple(POINTS[:2]), None))
    assert rule_of(no_expiry) == "UnknownOutcome"
    assert rule_of(dataclasses.replace(params, outcome_payouts={})) == "EmptyOutcomePayouts"
    assert rule_of(dataclasses.replace(params, outcome_payouts={A0: {}})) == "EmptyPayoutMap"
    assert (
        rule_of(dataclasses.replace(params, outcome_payouts={A0: {0: 0}})) == "InvalidPayoutWeight"
    )
    assert (
        rule_of(dataclasses.replace(params, outcome_payouts={A0: {3: 1}}))
        == "OutOfBoundsPlayerIndex"
    )
    overflow = dataclasses.replace(params, outcome_payouts={A0: {0: 2**64 - 1, 1: 1}})
    assert rule_of(overflow) == "PayoutWeightOverflow"
    product = dataclasses.replace(params, outcome_payouts={A0: {0: 2**63}})
    assert rule_of(product) == "PayoutWeightOverflow"


def test_scalar_rules() -> None:
    params = base()
    assert rule_of(dataclasses.replace(params, fee_rate=0)) == "InvalidFeeRate"
    assert (
        rule_of(dataclasses.replace(params, relative_locktime_block_delta=0)) == "InvalidLocktime"
    )
    too_long = dataclasses.replace(params, relative_locktime_block_delta=32768)
    assert rule_of(too_long) == "InvalidLocktime"
    validate(dataclasses.replace(params, relative_locktime_block_delta=32767))
    zero_expiry = dataclasses.replace(params, event=EventLockingConditions(tuple(POINTS[:2]), 0))
    assert rule_of(zero_expiry) == "InvalidExpiry"
    assert rule_of(dataclasses.replace(params, funding_value=0)) == "InvalidFundingValue"
    assert rule_of(dataclasses.replace(params, funding_value=21_000_001 * 10**8)) == (
        "InvalidFundingValue"
    )


def test_shared_winners_rule_applies_to_new_legacy_contracts_only() -> None:
    payouts = {A0: {0: 2, 1: 1}, A1: {0: 1, 1: 2}}
    legacy = make_params(make_party(3), payouts, POINTS[:2], layout=ContractLayout.LEGACY)
    assert rule_of(legacy) == "UnboundSharedWinners"
    validate_stored(legacy)  # a stored legacy contract still rebuilds
    TicketedDLC.rebuild(legacy, FUNDING)
    with pytest.raises(ContractValidationError):
        TicketedDLC.new(legacy, FUNDING)
    bound = legacy.with_layout(ContractLayout.OUTCOME_BOUND)
    validate(bound)
    TicketedDLC.new(bound, FUNDING)
    same_weights = make_params(
        make_party(3),
        {A0: {0: 1, 1: 1}, A1: {0: 1, 1: 1}},
        POINTS[:2],
        layout=ContractLayout.LEGACY,
    )
    validate(same_weights)


def test_limits_refuse_before_building() -> None:
    params = base()
    assert signature_counts(params) == (3 + 6, 3 * 4 + (1 * 2 + 2 * 3 + 3 * 4))
    for limits in (
        ContractLimits(max_players=2),
        ContractLimits(max_locking_points=1),
        ContractLimits(max_outcomes=2),
        ContractLimits(max_signatures=8),
        ContractLimits(max_partial_signatures=31),
    ):
        with pytest.raises(ContractLimitError):
            TicketedDLC.new(params, FUNDING, limits)
    TicketedDLC.new(params, FUNDING, ContractLimits(max_partial_signatures=32))


def test_fee_and_dust_failures_happen_at_build_time() -> None:
    params = base()
    with pytest.raises(ContractBuildError, match="InsufficientFunds"):
        TicketedDLC.new(dataclasses.replace(params, fee_rate=10**6), FUNDING)
    with pytest.raises(ContractBuildError, match="DustAmount"):
        TicketedDLC.new(dataclasses.replace(params, funding_value=1_400), FUNDING)
    with pytest.raises(ContractBuildError, match="WeightOverflow"):
        TicketedDLC.new(dataclasses.replace(params, fee_rate=2**64 - 1), FUNDING)
    # A tiny weight share yields a dust split output.
    tiny = dataclasses.replace(params, outcome_payouts={A1: {1: 1, 2: 249}})
    with pytest.raises(ContractBuildError, match="DustAmount"):
        TicketedDLC.new(tiny, FUNDING)


def test_split_fee_is_shared_equally() -> None:
    from ticketdlc.bitcoin.fees import InputWeightPrediction

    # dlctix spec §7.3: w=2, D=2 → weight 817, fee 2043 at 2500 sat/kwu, share 1021.
    iwp = InputWeightPrediction(0, (64, 32, 69, 33 + 32 * 2))
    payouts = split_payouts(298_890, 2500, iwp, {1: 1, 2: 2})
    assert payouts == {1: 298_890 // 3 - 1021, 2: 298_890 * 2 // 3 - 1021}
