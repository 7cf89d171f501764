"""The crash suite: the coordinator dies at every side effect and in every state, and is
restarted from a database older than its last payout; every competition still completes with
no conflicting double broadcast, no second Lightning payment and no lost entry.

Crashes come from the lifecycle's named crash points (``FORECAST_CRASH_POINTS``: the process
ends with ``os._exit`` exactly there, like a SIGKILL) and from SIGKILLs sent by the test; a
:class:`~tests.support.stack.CrashSupervisor` restarts the coordinator on the same data after
each one, and the players retry like real clients.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator.app.competitions.crash_points import CRASH_POINTS
from tests.e2e.scenario import (
    RANKED_PICKS,
    STATE_ORDER,
    CompetitionRun,
    Entrant,
    Scenario,
)
from tests.support.stack import CrashSupervisor, DevnetStack

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.crash, pytest.mark.timeout(1500)]

#: Every side effect of the happy path, crashed just before it and right after it happened,
#: before its result was persisted.
HAPPY_PATH_POINTS = [
    "before_open:keygen", "after_open:keygen",
    "before_create:invoice", "after_create:invoice", "after_register:participant",
    "before_create:oracle_event", "after_create:oracle_event",
    "before_submit:oracle_entries", "after_submit:oracle_entries",
    "before_build:funding_psbt", "after_build:funding_psbt",
    "before_sign:contract", "after_sign:contract", "before_sign:funding", "after_sign:funding",
    "before_broadcast:funding", "after_broadcast:funding",
    "before_settle:invoice", "after_settle:invoices",
    "before_broadcast:outcome", "after_broadcast:outcome",
    "before_send:payout", "after_send:payout",
    "before_broadcast:close", "after_broadcast:close",
]  # fmt: skip
SPLIT_POINTS = [
    "before_broadcast:split", "after_broadcast:split",
    "before_broadcast:split_close", "after_broadcast:split_close",
    "before_broadcast:sweep", "after_broadcast:sweep",
]  # fmt: skip
EXPIRY_AND_CANCEL_POINTS = [
    "before_broadcast:expiry", "after_broadcast:expiry",
    "before_cancel:invoices", "after_cancel:invoices",
]  # fmt: skip
#: The fee-bumping crash points, crashed in ``tests/e2e/test_fee_bumping.py``.
FEE_BUMPING_POINTS = ["before_broadcast:cpfp", "after_broadcast:cpfp"]
WEIGHTS = (45, 35, 20)


def test_every_crash_point_is_crashed_in() -> None:
    """No crash point of the lifecycle is left out of the suite."""
    suite = HAPPY_PATH_POINTS + SPLIT_POINTS + EXPIRY_AND_CANCEL_POINTS + FEE_BUMPING_POINTS
    assert len(suite) == len(set(suite))
    assert set(suite) == CRASH_POINTS, CRASH_POINTS ^ set(suite)


async def create_patiently(s: Scenario, entries: int, places: int) -> CompetitionRun:
    """Create; a creation that crashed after being stored answers 409 to the retry."""
    body = s.terms(entries, places)
    answer = "no answer"
    for _ in range(120):
        try:
            response = await asyncio.to_thread(
                s.stack.admin.request, "POST", "/api/v1/competitions", body
            )
        except httpx.TransportError as exc:  # the coordinator died in the request
            answer = repr(exc)
        else:
            if response.status_code in (201, 409):
                break
            answer = response.text
        await asyncio.sleep(1.0)
    else:
        raise AssertionError(f"competition not created: {answer}")
    run = CompetitionRun(body["id"], body)
    await s.competition(run)
    return run


def no_conflicting_broadcasts(s: Scenario, details: dict[str, Any]) -> None:
    spent: dict[tuple[bytes, int], str] = {}
    for t in details["transactions"]:
        status = s.stack.chain.tx_status(t["txid"])
        assert status.get("confirmed"), f"{t['kind']} {t['txid']} is not confirmed"
        for txin in s.tx(t["txid"]).inputs:
            key = (txin.prevout.txid, txin.prevout.vout)
            assert spent.setdefault(key, t["txid"]) == t["txid"], (
                f"{t['kind']} {t['txid']} conflicts with {spent[key]}"
            )
    assert "txn-mempool-conflict" not in s.stack.coordinator.log_text()


async def paid_exactly_once(s: Scenario, winners: list[Entrant], amounts: list[int]) -> None:
    for entrant, amount in zip(winners, amounts, strict=True):
        payment = await entrant.handle.lightning.track_payment(
            bytes.fromhex(entrant.record.payment_hash)
        )
        after = await s.node_msat(entrant.handle.node.alias)
        spent = entrant.record.amount_sats * 1000 + payment.fee_msat
        assert after - (entrant.balance_before_msat - spent) == amount * 1000, entrant.handle.name


def backup_database(stack: DevnetStack, target: Path) -> None:
    """A consistent copy of competitions.db while the coordinator runs (SQLite backup API)."""
    source = stack.coordinator.root / "data" / "competitions.db"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def restore_database(stack: DevnetStack, backup: Path) -> None:
    data = stack.coordinator.root / "data"
    for suffix in ("-wal", "-shm"):
        (data / f"competitions.db{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, data / "competitions.db")


async def test_happy_path_through_every_crash(scenario: Scenario, tmp_path: Path) -> None:
    s = scenario
    s.patient = True
    sup = s.stack.coordinator.supervise(HAPPY_PATH_POINTS)
    killed = Kills()
    try:
        run = await create_patiently(s, 5, 3)
        entrants = [await s.enter(run, f"c{i}", RANKED_PICKS[i]) for i in range(5)]
        await s.until(lambda: _kick(s, run, sup, killed, "awaiting_attestation"), within=600,
                      mine=True, interval=0.5)  # fmt: skip
        await s.attest(run)
        await s.until(lambda: _kick(s, run, sup, killed, "outcome_broadcasted"), within=300,
                      interval=0.5)  # fmt: skip
        attested = await s.competition(run)
        await s.mine_until_confirmed(attested["outcome_transaction"])
        pool = run.terms["total_competition_pool"]
        amounts = [pool * w // 100 for w in WEIGHTS]
        for entrant, amount in zip(entrants[:3], amounts, strict=True):
            await s.request_payout(entrant, amount)
        # A database from before the payouts were recorded as made, restored later: the
        # restarted coordinator must find them made on its Lightning node, not pay again.
        backup = tmp_path / "before-payouts.db"
        await asyncio.to_thread(backup_database, s.stack, backup)
        await s.until(lambda: _succeeded(s, run, 3), within=300)
        await s.until(lambda: _state(s, run, "delta_broadcasted"), within=300)
    finally:
        sup.stop()
    # Restart from the old database, older than the payouts and the cooperative close: the
    # payouts are found made on the node, the close is found on chain as the coordinator's own.
    s.stack.coordinator.kill()
    restore_database(s.stack, backup)
    s.stack.coordinator.start()
    await s.until(lambda: _succeeded(s, run, 3), within=120)
    done = await s.reach(run, "completed", mine=True, within=300)
    assert "spent by an unknown" not in s.stack.coordinator.log_text()
    assert sorted(sup.reached) == sorted(HAPPY_PATH_POINTS), set(HAPPY_PATH_POINTS) - set(
        sup.reached
    )
    # Killed (by a crash point or a SIGKILL) in every state the competition was seen in.
    assert killed.seen <= killed.crashed | killed.killed | {"completed"}, killed
    assert "awaiting_attestation" in killed.crashed | killed.killed, killed
    details = await s.details(run)
    no_conflicting_broadcasts(s, details)
    await paid_exactly_once(s, entrants[:3], amounts)
    assert done["total_entries"] == 5 and len(details["payouts"]) == 3
    contract = done["contract_parameters"] or done["signed_contract"]["dlc"]["params"]
    assert len(contract["players"]) == 5


async def test_split_and_sweep_through_every_crash(scenario: Scenario) -> None:
    s = scenario
    s.patient = True
    run = await s.create(5, 3)
    entrants = [await s.enter(run, f"d{i}", RANKED_PICKS[i]) for i in range(5)]
    await s.reach(run, "awaiting_attestation", mine=True, within=300)
    await s.attest(run)
    attested = await s.reach(run, "outcome_broadcasted")
    await s.mine_until_confirmed(attested["outcome_transaction"])
    pool = run.terms["total_competition_pool"]
    await s.request_payout(entrants[0], pool * 45 // 100)
    await s.until(lambda: _succeeded(s, run, 1))
    sup = s.stack.coordinator.supervise(SPLIT_POINTS)
    try:
        await s.reach(run, "delta_broadcasted", mine=True, within=300)

        async def both_owed() -> bool:
            return len((await s.details(run))["owed_winners"]) == 2

        await s.until(both_owed, mine=True, within=300)
        owed = (await s.details(run))["owed_winners"]
        for row in owed:
            while s.stack.chain.tip_height() + 1 < row["sweepable_at_height"]:
                s.stack.mine(1)
            await s.admin("POST", f"/api/v1/admin/owed-winners/{row['entry_id']}/approve-sweep")
        await s.reach(run, "completed", mine=True, within=300)
    finally:
        sup.stop()
    assert sorted(sup.reached) == sorted(SPLIT_POINTS)
    details = await s.details(run)
    no_conflicting_broadcasts(s, details)
    await paid_exactly_once(s, entrants[:1], [pool * 45 // 100])


async def test_expiry_and_cancellation_through_crashes(scenario: Scenario) -> None:
    s = scenario
    s.patient = True
    expiring = await s.create(3, 1)
    entrants = [await s.enter(expiring, f"e{i}", RANKED_PICKS[i]) for i in range(3)]
    # Armed before the unfilled competition exists: its entry window may close at any time.
    sup = s.stack.coordinator.supervise(EXPIRY_AND_CANCEL_POINTS)
    try:
        unfilled = await s.create(3, 1, entry_window_secs=75)
        waiting = [await s.enter(unfilled, f"w{i}", RANKED_PICKS[i]) for i in range(2)]
        await s.reach(expiring, "awaiting_attestation", mine=True, within=300)
        event = s.stack.oracle.http.get(f"/oracle/events/{expiring.id}").json()
        s.stack.set_chain_time(int(event["event_announcement"]["expiry"]) + 60)
        s.stack.mine(7)
        expired = await s.reach(expiring, "outcome_broadcasted", mine=True, within=300)
        await s.until(lambda: _state(s, unfilled, "cancelled"), within=180)

        async def released() -> bool:  # cancelled first, its held fees released after
            return len(sup.reached) == len(EXPIRY_AND_CANCEL_POINTS)

        await s.until(released, within=120)
    finally:
        sup.stop()
    assert sorted(sup.reached) == sorted(EXPIRY_AND_CANCEL_POINTS)
    for entrant in waiting:  # every held fee returned, exactly

        async def refunded(e: Entrant = entrant) -> bool:
            return await s.node_msat(e.handle.node.alias) == e.balance_before_msat

        await s.until(refunded, within=60)
    await s.mine_until_confirmed(expired["outcome_transaction"])
    pool = expiring.terms["total_competition_pool"]
    for entrant in entrants:
        await s.request_payout(entrant, pool // 3)
    await s.until(lambda: _succeeded(s, expiring, 3), within=120)
    await s.reach(expiring, "completed", mine=True, within=300)
    no_conflicting_broadcasts(s, await s.details(expiring))
    await paid_exactly_once(s, entrants, [pool // 3] * 3)


async def _state(s: Scenario, run: CompetitionRun, state: str) -> bool:
    return (await s.competition(run))["state"] == state


@dataclass
class Kills:
    """States seen, states a crash point hit, states the test SIGKILLed the coordinator in."""

    seen: set[str] = field(default_factory=set)
    crashed: set[str] = field(default_factory=set)
    killed: set[str] = field(default_factory=set)
    last: str | None = None
    deaths: int = 0


async def _kick(s: Scenario, run: CompetitionRun, sup: CrashSupervisor, kills: Kills,
                target: str) -> bool:  # fmt: skip
    """Watch the state; SIGKILL once in each state no crash point hit already."""
    state = (await s.competition(run))["state"]
    if state in ("failed", "cancelled"):
        raise AssertionError(f"competition {state}")
    deaths = sup.restarts + sup.kills
    if deaths > kills.deaths and kills.last is not None:
        kills.crashed.add(kills.last)  # the coordinator died in the last state seen
    kills.deaths = deaths
    kills.seen.add(state)
    kills.last = state
    if state not in kills.crashed | kills.killed:
        kills.killed.add(state)
        await asyncio.to_thread(sup.kill_now)
        kills.deaths = sup.restarts + sup.kills
    return STATE_ORDER.index(state) >= STATE_ORDER.index(target)


async def _succeeded(s: Scenario, run: CompetitionRun, count: int) -> bool:
    return len(await s.payouts(run, "succeeded")) >= count
