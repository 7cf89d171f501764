"""Pure lifecycle rules: ticket status and reservation, payout amounts and window, creation
checks, picks; and the crash points every side effect of the lifecycle names."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from coordinator.app.competitions.crash_points import CRASH_POINTS
from coordinator.config import load_settings
from coordinator.domain.competitions.entries import check_picks
from coordinator.domain.competitions.payouts import (
    CloseDecision,
    PayoutRules,
    close_or_split,
    cltv_limit,
    payout_amount,
    reclaim_height,
    window_allows,
)
from coordinator.domain.competitions.terms import (
    CreationLimits,
    CreationRefusedError,
    check_terms,
    keygen_timeout_secs,
    terms_from_json,
    terms_to_json,
    ticket_price,
)
from coordinator.domain.competitions.tickets import (
    TicketFacts,
    TicketStatus,
    invoice_expiry_secs,
    is_free,
    is_lapsed,
    is_live_reservation,
    ticket_status,
)
from coordinator_core.errors import ConfigError, ValidationError
from coordinator_core.observations import Comparison, StationPicks
from tests.lifecycle.factories import NOW, make_terms

SRC = Path(__file__).resolve().parents[2] / "src" / "coordinator" / "app" / "competitions"
T = NOW


def facts(**changes: object) -> TicketFacts:
    base = TicketFacts(None, None, None, None, None, False)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_ticket_status_and_reservation_rules() -> None:
    later = T + dt.timedelta(minutes=10)
    fresh = facts()
    assert ticket_status(fresh, T) is TicketStatus.CREATED and is_free(fresh)
    reserved = facts(reserved_by="a", invoice_expires_at=later)
    assert ticket_status(reserved, T) is TicketStatus.RESERVED
    assert not is_free(reserved) and is_live_reservation(reserved, "a", T)
    assert not is_live_reservation(reserved, "b", T)
    assert ticket_status(reserved, later) is TicketStatus.EXPIRED and is_lapsed(reserved, later)
    assert not is_free(reserved)  # until the node cancelled its invoice
    cancelled = dataclasses.replace(reserved, invoice_cancelled_at=later)
    assert is_free(cancelled) and not is_lapsed(cancelled, later)
    paid = dataclasses.replace(reserved, paid_at=T)
    assert ticket_status(paid, later) is TicketStatus.PAID and is_live_reservation(paid, "a", later)
    assert ticket_status(dataclasses.replace(paid, has_entry=True), T) is TicketStatus.USED
    assert ticket_status(dataclasses.replace(paid, settled_at=T), T) is TicketStatus.SETTLED
    refunded = dataclasses.replace(paid, invoice_cancelled_at=T)
    assert ticket_status(refunded, T) is TicketStatus.CANCELLED and not is_free(refunded)


def test_invoice_lives_as_long_as_the_reservation_cut_at_the_deadline() -> None:
    deadline = T + dt.timedelta(hours=1)
    assert invoice_expiry_secs(T, deadline, 600) == 600
    assert invoice_expiry_secs(deadline - dt.timedelta(seconds=100), deadline, 600) == 100
    assert invoice_expiry_secs(deadline - dt.timedelta(seconds=10), deadline, 600) is None


def test_ticket_price_rounds_the_fee_half_up() -> None:
    assert ticket_price(1000, 10) == 1100
    assert ticket_price(5, 10) == 6  # 0.5 rounds up
    assert ticket_price(4, 10) == 4  # 0.4 rounds down
    assert ticket_price(1000, 0) == 1000


def test_payout_amounts() -> None:
    ranked = {2: 45, 0: 35, 4: 20}
    assert payout_amount(100_000, ranked, 2, 5) == 45_000
    assert payout_amount(100_001, ranked, 4, 5) == 20_000
    assert payout_amount(100_000, ranked, 1, 5) == 0
    equal = {0: 34, 1: 33, 2: 33}  # refund-all and expiry: equal shares whatever the weights
    assert [payout_amount(3_000, equal, i, 3) for i in range(3)] == [1_000] * 3


def test_payout_window_and_time_lock_cap() -> None:
    rules = PayoutRules(margin_blocks=13, max_cltv_limit=432)
    # Confirmed at 1000 with Δ=144: HTLCs must be resolved by 1131.
    assert cltv_limit(1000, 144, 1000, rules) == 131
    assert cltv_limit(1000, 144, 1130, rules) == 1
    assert cltv_limit(1000, 1000, 1000, rules) == 432
    assert window_allows(131, 80) and not window_allows(82, 80) and window_allows(83, 80)


def test_close_or_split() -> None:
    rules = PayoutRules(margin_blocks=3)

    def decide(tip: int, paid: set[int], height: int | None = 100) -> CloseDecision:
        return close_or_split(
            confirm_height=height, tip=tip, delta=20, rules=rules, winners={1, 2}, paid=paid
        )

    assert decide(100, set(), height=None) is CloseDecision.WAIT
    assert decide(100, {1, 2}) is CloseDecision.CLOSE
    assert decide(118, {1}) is CloseDecision.WAIT  # the split would not be final yet
    assert decide(119, {1}) is CloseDecision.SPLIT  # mineable in block 120 = 100 + Δ
    assert decide(150, {1, 2}) is CloseDecision.CLOSE
    assert reclaim_height(120, 20) == 160


def test_creation_checks_name_the_limit() -> None:
    limits = CreationLimits()
    base = make_terms(5, 3)
    check_terms(base, NOW, limits)
    refusals = {
        "version 7": dataclasses.replace(base, id=__import__("uuid").uuid4()),
        "end_observation_date": dataclasses.replace(
            base, end_observation_date=base.start_observation_date - dt.timedelta(seconds=1)
        ),
        "signing_date": dataclasses.replace(
            base, signing_date=base.end_observation_date - dt.timedelta(seconds=1)
        ),
        "repeats": dataclasses.replace(base, locations=("KORD", "KORD")),
        "invalid station": dataclasses.replace(base, locations=("kord",)),
        "number_of_values_per_entry": dataclasses.replace(base, number_of_values_per_entry=7),
        "at most 5 places": dataclasses.replace(base, number_of_places_win=6),
        "coordinator_fee_percentage": dataclasses.replace(base, coordinator_fee_percentage=101),
        "max_outcomes": make_terms(25, 4),
    }
    for message, terms in refusals.items():
        with pytest.raises(CreationRefusedError, match=message):
            check_terms(terms, NOW, limits)
    assert terms_from_json(terms_to_json(base)) == base
    assert keygen_timeout_secs(base, NOW, limits) == 3600 + 7200 + 1


def test_picks_are_checked_against_the_terms() -> None:
    terms = make_terms(5, 3, values=2, locations=("KORD", "KLAX"))
    ok = (StationPicks(stations="KORD", temp_high=Comparison.OVER),)
    assert check_picks(ok, terms) == 1
    bad = {
        "not part": (StationPicks(stations="KJFK", temp_high=Comparison.OVER),),
        "twice": (StationPicks(stations="KORD", temp_high=Comparison.OVER),) * 2,
        "at least one": (StationPicks(stations="KORD"),),
        "3 picks": (
            StationPicks(stations="KORD", temp_high=Comparison.OVER, temp_low=Comparison.PAR),
            StationPicks(stations="KLAX", wind_speed=Comparison.UNDER),
        ),
        "not scored": (StationPicks(stations="KORD", humidity=Comparison.OVER),),
    }
    for message, picks in bad.items():
        with pytest.raises(ValidationError, match=message):
            check_picks(picks, terms)


def test_every_crash_point_in_the_code_is_listed() -> None:
    used: set[str] = set()
    for path in SRC.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "crash_point"
                and node.args
            ):
                arg = node.args[0]
                if isinstance(arg, ast.Constant):
                    used.add(str(arg.value))
                elif isinstance(arg, ast.JoinedStr):  # f"before_broadcast:{what}"
                    prefix = "".join(
                        str(v.value) for v in arg.values if isinstance(v, ast.Constant)
                    )
                    assert any(p.startswith(prefix) for p in CRASH_POINTS), prefix
    assert used <= CRASH_POINTS, used - CRASH_POINTS
    for name in CRASH_POINTS:
        action, _, what = name.partition(":")
        assert action.startswith(("before_", "after_")) and what


async def test_production_refuses_crash_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coordinator.app.runtime import Runtime

    settings = load_settings(
        Path("config/production.example.toml"),
        env={"COORDINATOR__DB__DATA_FOLDER": str(tmp_path)},
    )
    monkeypatch.setenv("FORECAST_CRASH_POINTS", "after_broadcast:funding")
    with pytest.raises(ConfigError, match="FORECAST_CRASH_POINTS"):
        await Runtime.start(settings)
