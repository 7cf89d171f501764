"""Funded competitions settled by an outcome that pays everyone: refund-all (after the oracle
was down for a while) and the expiry outcome when no attestation comes. Each ends
``completed`` with every player paid its equal share."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.scenario import RANKED_PICKS, ZERO_PICKS, CompetitionRun, Scenario

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture
def s(scenario: Scenario) -> Scenario:
    return scenario


async def test_oracle_down_for_a_while_then_refund_all(s: Scenario) -> None:
    """The oracle is unreachable while the funded competition awaits its attestation: the
    coordinator keeps retrying (never failed, never cancelled) and settles once it is back.
    Every entry scores nothing, so the oracle attests refund-all: equal shares."""
    run = await s.create(3, 1)
    entrants = await s.fill(run, [ZERO_PICKS] * 3)
    await s.reach(run, "awaiting_attestation", mine=True, within=300)
    oracle = s.stack.services["oracle"]
    oracle.stop()
    try:
        for _ in range(10):
            await asyncio.sleep(1.5)
            await asyncio.to_thread(s.stack.mine, 1)
            assert (await s.competition(run))["state"] == "awaiting_attestation"
    finally:
        oracle.start()
    await s.attest(run)
    attested = await s.reach(run, "outcome_broadcasted", within=180)
    await s.mine_until_confirmed(attested["outcome_transaction"])
    assert "failed" not in run.states and "cancelled" not in run.states
    assert attested["settled_outcome"] is not None
    pool = run.terms["total_competition_pool"]
    before = [await s.node_msat(e.handle.node.alias) for e in entrants]
    for entrant in entrants:
        await s.request_payout(entrant, pool // 3)
    await s.until(lambda: _status(s, run, "succeeded", 3))
    await s.reach(run, "completed", mine=True)
    after = [await s.node_msat(e.handle.node.alias) for e in entrants]
    assert [a - b for a, b in zip(after, before, strict=True)] == [pool // 3 * 1000] * 3


async def test_expiry_outcome_settles_to_completed(s: Scenario) -> None:
    run = await s.create(3, 1)
    entrants = await s.fill(run, RANKED_PICKS[:3])
    await s.reach(run, "awaiting_attestation", mine=True, within=300)
    # Nobody attests. Move the chain's clock past the event's expiry.
    event = s.stack.oracle.http.get(f"/oracle/events/{run.id}").json()
    expiry = int(event["event_announcement"]["expiry"])
    s.stack.set_chain_time(expiry + 60)
    s.stack.mine(7)  # the 6-deep block time passes the expiry too
    expired = await s.reach(run, "outcome_broadcasted", mine=True)
    assert "expiry_broadcasted" in run.states or expired["expiry_broadcasted_at"] is not None
    await s.mine_until_confirmed(expired["outcome_transaction"])
    pool = run.terms["total_competition_pool"]
    for entrant in entrants:
        await s.request_payout(entrant, pool // 3)
    await s.until(lambda: _status(s, run, "succeeded", 3))
    await s.reach(run, "completed", mine=True)


async def _status(s: Scenario, run: CompetitionRun, status: str, count: int) -> bool:
    return len(await s.payouts(run, status)) >= count
