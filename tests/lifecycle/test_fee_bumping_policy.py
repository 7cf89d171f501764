"""The fee bumping policy (pure): triggers, targets, re-bump steps, budget caps, coin order."""

from __future__ import annotations

import datetime as dt
import uuid
from fractions import Fraction
from pathlib import Path

import pytest

from coordinator.config import load_settings
from coordinator.domain.fee_bumping import (
    INCREMENTAL_RELAY_SAT_KWU,
    BumpSettings,
    Child,
    Deadline,
    Hold,
    Market,
    Parent,
    Plan,
    Reason,
    child_fee,
    child_fee_at,
    coin_sets,
    package_rate,
    plan_bump,
)
from coordinator.domain.ports.cpfp import BumpChild, committed_fees, current_child
from coordinator_core.errors import ConfigError
from ticketdlc.bitcoin.anchor import SEQUENCE_RBF, anchor_output
from ticketdlc.bitcoin.fees import P2TR_KEY_SPEND
from ticketdlc.bitcoin.script import p2tr_script
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from ticketdlc.contract.cpfp import CpfpFundingInput, cpfp_child_template
from ticketdlc.crypto.secp import Point
from ticketdlc.typed_bytes import Txid

SETTINGS = BumpSettings(
    after_blocks=3,
    conf_target=6,
    urgent_conf_target=1,
    urgent_within_blocks=10,
    urgent_within_secs=3600,
    max_fee_percent=10,
    budget_sats=50_000,
)
ESTIMATES = {1: 40.0, 6: 20.0, 144: 2.0}
MARKET = Market(tip=1000, median_time_past=1_700_000_000, estimates=ESTIMATES)
# an outcome transaction signed at 2 sat/vB: 124 vB, 248 sats
PARENT = Parent(fee=248, vsize=124, input_value=300_000, in_mempool=True, waiting_blocks=0)


def plan(parent: Parent = PARENT, child: Child | None = None, budget: int = 50_000) -> Plan:
    decision = plan_bump(parent, child, MARKET, SETTINGS, budget)
    assert isinstance(decision, Plan), decision
    return decision


def test_a_parent_below_the_estimate_is_bumped_to_the_target_at_once() -> None:
    p = plan()
    assert p.reason is Reason.BELOW_ESTIMATE and not p.urgent
    assert p.rate == 20 * 250  # the estimate for conf_target, sat/kwu
    assert p.current_rate == Fraction(248 * 1000, 4 * 124)  # 2 sat/vB
    assert p.max_fee == 30_000  # 10 % of what the parent spends (below the budget)
    assert p.replaces_fee is None
    assert plan(budget=1_234).max_fee == 1_234


def test_a_parent_paying_the_target_waits_until_stuck_then_rises_by_a_quarter() -> None:
    paying = Parent(fee=124 * 25, vsize=124, input_value=300_000, in_mempool=True,
                    waiting_blocks=2)  # fmt: skip
    assert plan_bump(paying, None, MARKET, SETTINGS, 50_000) == Hold("pays the target")
    stuck = Parent(paying.fee, 124, 300_000, True, waiting_blocks=3)
    p = plan(stuck)
    assert p.reason is Reason.STUCK
    assert p.rate == -(-25 * 250 * 5 // 4)  # rounded up


def test_a_refused_parent_goes_as_a_package_higher_after_each_refusal() -> None:
    rejected = Parent(248, 124, 300_000, in_mempool=False, waiting_blocks=0)
    assert plan(rejected).reason is Reason.PARENT_REJECTED
    assert plan(rejected).rate == 20 * 250
    again = Parent(248, 124, 300_000, False, 0, refused_rate=30 * 250)
    assert plan(again).rate == 30 * 250 * 5 // 4


@pytest.mark.parametrize(
    ("deadline", "urgent"),
    [
        (Deadline(height=1011), True),  # 10 blocks after the next one
        (Deadline(height=1012), False),
        (Deadline(time=1_700_000_000 + 3600), True),
        (Deadline(time=1_700_000_000 + 3601), False),
        (Deadline(time=1_699_000_000), True),  # already passed: the competing spend is valid
        (None, False),
    ],
)
def test_a_near_competing_spend_makes_the_target_urgent(
    deadline: Deadline | None, urgent: bool
) -> None:
    p = plan(Parent(248, 124, 300_000, True, 0, deadline=deadline))
    assert p.urgent is urgent
    assert p.reason is (Reason.DEADLINE if urgent else Reason.BELOW_ESTIMATE)
    assert p.rate == (40 if urgent else 20) * 250


def test_a_rebump_needs_a_quarter_more_unless_the_child_is_stuck() -> None:
    # parent + child pay 18 sat/vB together; the estimate is 20: less than 1.25 × 18
    child = Child(fee=18 * (124 + 58) - 248, vsize=58, waiting_blocks=1)
    assert package_rate(PARENT, child) == 18 * 250
    assert plan_bump(PARENT, child, MARKET, SETTINGS, 50_000) == Hold("below the re-bump step")
    stuck = Child(child.fee, 58, waiting_blocks=3)
    p = plan(child=stuck)
    assert p.reason is Reason.BELOW_ESTIMATE and p.rate == 18 * 250 * 5 // 4
    assert p.replaces_fee == child.fee
    low = Child(fee=10 * (124 + 58) - 248, vsize=58, waiting_blocks=0)  # 10 sat/vB
    assert plan(child=low).rate == 20 * 250


def test_a_replacement_pays_what_it_replaces_plus_the_relay_increment() -> None:
    old = Child(fee=19 * (124 + 58) - 248, vsize=58, waiting_blocks=3)
    p = plan(child=old)
    fee = child_fee(p, PARENT, 58)
    assert fee is not None and not fee.capped
    assert fee.fee >= old.fee + INCREMENTAL_RELAY_SAT_KWU * 4 * 58 // 1000
    assert fee.fee == child_fee_at(fee.rate, PARENT, 58)
    # at a target barely above the old child's rate the increment decides
    close = Plan(old.fee * 0 + 19 * 250 + 1, Reason.STUCK, False, package_rate(PARENT, old),
                 max_fee=30_000, replaces_fee=old.fee)  # fmt: skip
    raised = child_fee(close, PARENT, 58)
    assert raised is not None and raised.fee >= old.fee + 58


def test_the_budget_caps_a_child_or_stops_it() -> None:
    p = plan(budget=2_000)  # the target needs 20 × 182 − 248 = 3392 sats
    capped = child_fee(p, PARENT, 58)
    assert capped is not None and capped.capped and capped.fee <= 2_000
    assert capped.rate > p.current_rate
    assert child_fee(plan(budget=100), PARENT, 58) is None  # cannot even pay 2 sat/vB for itself
    assert child_fee(plan(budget=0), PARENT, 58) is None


@pytest.mark.parametrize("rate", [251, 2_000, 5_000, 12_345, 50_000])
def test_the_policy_fee_is_the_child_templates_fee(rate: int) -> None:
    script = p2tr_script(Point.from_secret(5).xonly())
    funding = OutPoint(bytes(range(32)), 1)
    parent = Transaction(
        2, [TxIn(funding, b"", SEQUENCE_RBF, (bytes(64),))],
        [TxOut(299_000, script), anchor_output(240)], 0,
    )  # fmt: skip
    coin = CpfpFundingInput(OutPoint(bytes(32), 0), TxOut(90_000, script), P2TR_KEY_SPEND)
    template = cpfp_child_template(parent, 760, [coin], script, rate)
    view = Parent(760, parent.vsize(), 300_000, True, 0)
    assert template.fee == child_fee_at(rate, view, template.child_vsize)


def test_coin_sets_reuse_then_smallest_single_then_largest_first() -> None:
    coins = [("a", 5_000), ("b", 100_000), ("c", 20_000)]
    assert list(coin_sets(coins)) == [["a"], ["c"], ["b"], ["b", "c"], ["b", "c", "a"]]
    assert list(coin_sets(coins[:1], reused=["r"])) == [["r"], ["r", "a"]]


def _child(parent: str, fee: int, abandoned: bool = False) -> BumpChild:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    return BumpChild(
        Txid(uuid.uuid4().hex * 2), uuid.uuid4(), Txid(parent), "", fee, 100, 1000, (),
        Reason.BELOW_ESTIMATE, now, abandoned_at=now if abandoned else None,
    )  # fmt: skip


def test_only_current_children_count_against_the_budget() -> None:
    children = [_child("p1", 1_000), _child("p1", 2_500), _child("p2", 700),
                _child("p2", 9_000, abandoned=True)]  # fmt: skip
    assert committed_fees(children) == 3_200  # a replaced child never confirms
    assert committed_fees(children, parents={"p2"}) == 700
    assert current_child(children[2:]) == children[2]
    assert current_child([children[3]]) is None


def test_the_urgent_target_may_not_be_slower_than_the_normal_one() -> None:
    env = {"COORDINATOR__CPFP__CONF_TARGET": "3", "COORDINATOR__CPFP__URGENT_CONF_TARGET": "6"}
    with pytest.raises(ConfigError, match="urgent_conf_target"):
        load_settings(Path("config/e2e.toml"), env=env)
    assert load_settings(Path("config/e2e.toml"), env={}).cpfp.check_interval_secs == 1
