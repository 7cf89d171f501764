"""Funded competitions whose winners are not all paid over Lightning: the split, split-close
for the paid, an unpaid winner's own on-chain claim with the player client, the owed-winner
sweep (refused before its height, allowed after approval), and a failed payout followed by the
winner's on-chain claim. Each ends ``completed`` with every winner's money where it belongs."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.scenario import RANKED_PICKS, CompetitionRun, Entrant, Scenario
from ticketdlc.bitcoin.script import p2tr_script
from ticketdlc.crypto.secp import Point

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def destination(seed: int) -> bytes:
    return p2tr_script(Point.from_secret(seed).xonly())


async def funded_and_attested(
    s: Scenario, entries: int, places: int, choices: list[dict[str, str]]
) -> tuple[CompetitionRun, list[Entrant], dict]:  # type: ignore[type-arg]
    run = await s.create(entries, places)
    entrants = await s.fill(run, choices)
    await s.reach(run, "awaiting_attestation", mine=True, within=300)
    await s.attest(run)
    attested = await s.reach(run, "outcome_broadcasted")
    await s.mine_until_confirmed(attested["outcome_transaction"])
    return run, entrants, attested


def received(s: Scenario, txid: str, script: bytes) -> int:
    return sum(o.value for o in s.tx(txid).outputs if o.script_pubkey == script)


async def test_unpaid_winners_split_claim_on_chain_and_approved_sweep(s: Scenario) -> None:
    run, entrants, _ = await funded_and_attested(s, 5, 3, RANKED_PICKS)
    pool = run.terms["total_competition_pool"]
    paid, claimer, owed = entrants[:3]
    await s.request_payout(paid, pool * 45 // 100)
    await s.until(lambda: _status(s, run, "succeeded", 1))
    # The window closes with two winners unpaid: split, and split-close of the paid output.
    await s.reach(run, "delta_broadcasted", mine=True)

    async def split_settled() -> bool:
        details = await s.details(run)
        kinds = [t["kind"] for t in details["transactions"]]
        return "split_close" in kinds and len(details["owed_winners"]) == 2

    await s.until(split_settled, mine=True)
    details = await s.details(run)
    kinds = [t["kind"] for t in details["transactions"]]
    assert "split" in kinds and "close" not in kinds, kinds
    owed_rows = {o["entry_id"]: o for o in details["owed_winners"]}
    assert set(owed_rows) == {claimer.record.entry_id, owed.record.entry_id}
    # One unpaid winner claims its share on chain with the player client.
    script = destination(1111)
    progress = await s.claim_on_chain(claimer, script, fee_rate=2)
    assert received(s, progress.txid, script) > 0
    # The other one's sweep is refused before its height, allowed after approval.
    row = owed_rows[owed.record.entry_id]
    refused = s.stack.admin.request(
        "POST", f"/api/v1/admin/owed-winners/{owed.record.entry_id}/approve-sweep"
    )
    assert refused.status_code == 409 and "height" in refused.text
    while s.stack.chain.tip_height() + 1 < row["sweepable_at_height"]:
        s.stack.mine(1)
    approved = await s.admin(
        "POST", f"/api/v1/admin/owed-winners/{owed.record.entry_id}/approve-sweep"
    )
    assert approved["sweep_approved_at"] is not None
    await s.reach(run, "completed", mine=True)
    final = {o["entry_id"]: o for o in (await s.details(run))["owed_winners"]}
    assert final[claimer.record.entry_id]["claimed_on_chain_at"] is not None
    assert final[owed.record.entry_id]["swept_at"] is not None


async def test_failed_payout_then_claim_on_chain(s: Scenario) -> None:
    run, entrants, _ = await funded_and_attested(s, 3, 1, RANKED_PICKS[:3])
    winner = entrants[0]
    async with s.stack.lightning_control() as control:
        await control.fail_next_payment("coordinator", "FAILURE_REASON_NO_ROUTE")
    before = await s.node_msat(winner.handle.node.alias)
    await s.request_payout(winner, run.terms["total_competition_pool"])
    await s.until(lambda: _status(s, run, "failed", 1))
    assert await s.node_msat(winner.handle.node.alias) == before  # nothing arrived
    script = destination(2222)
    progress = await s.claim_on_chain(winner, script, fee_rate=3)
    assert received(s, progress.txid, script) > 0
    await s.reach(run, "completed", mine=True)


async def _status(s: Scenario, run: CompetitionRun, status: str, count: int) -> bool:
    return len(await s.payouts(run, status)) >= count


@pytest.fixture
def s(scenario: Scenario) -> Scenario:
    return scenario


_ = asyncio
