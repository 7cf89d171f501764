"""Fee bumping across a crash, on a whole devnet stack with ``coordinator serve``.

Fees spike after funding (the devnet's estimates and its mempool and miner floors rise above
the contract's pre-signed rate), so the mempool refuses the outcome transaction alone and the
coordinator sends it as a package with a CPFP child. The coordinator dies right before offering
the persisted child (restarted, it sends that child, not a new one), then right after the
chain accepted the package, before it recorded that: restarted, it finds the child by its
anchor's spender and keeps it — one child, paid once — and the competition completes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator_core.faults import EXIT_CODE
from devnet.chain.chain import DEFAULT_FEE_ESTIMATES
from tests.e2e.scenario import RANKED_PICKS, Scenario
from tests.support.stack import DevnetStack, StackOptions, free_port
from ticketdlc.bitcoin.anchor import find_anchor

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

METRICS_PORT = free_port()
BUDGET = 20_000
STACK_OPTIONS = StackOptions(
    coordinator_settings={
        "COORDINATOR__CPFP__CHECK_INTERVAL_SECS": "0",
        "COORDINATOR__CPFP__URGENT_WITHIN_SECS": "60",
        "COORDINATOR__CPFP__BUDGET_SATS": str(BUDGET),
        "COORDINATOR__METRICS__ENABLED": "true",
        "COORDINATOR__METRICS__PORT": str(METRICS_PORT),
    }
)
SPIKE = {1: 30.0, 2: 30.0, 6: 25.0, 144: 20.0}  # sat/vB; the contract was signed at 2


def children(stack: DevnetStack, competition_id: str) -> list[dict[str, Any]]:
    """The coordinator's stored CPFP children (read-only, as an operator would)."""
    path = stack.coordinator.root / "data" / "competitions.db"
    with sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT * FROM cpfp_children WHERE competition_id = ? ORDER BY rowid",
            (competition_id,),
        ).fetchall()
    return [dict(row) for row in rows]


async def bumps_metric(result: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{METRICS_PORT}/metrics")).text
    wanted = (f'result="{result}"', 'tx="outcome"')
    for line in text.splitlines():
        if line.startswith("coordinator_cpfp_bumps_total{") and all(w in line for w in wanted):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_crash_after_broadcasting_a_child_resumes_without_paying_twice(
    scenario: Scenario,
) -> None:
    s, stack = scenario, scenario.stack
    run = await s.create(3, 1, entry_fee=50_000)
    winner, *_ = await s.fill(run, RANKED_PICKS[:3])
    await s.reach(run, "awaiting_attestation", mine=True, within=300)
    try:
        stack.set_fee_estimates(SPIKE)
        stack.chain.set_min_fee_rate(20)  # the mempool refuses a transaction below it alone
        points = ["before_broadcast:cpfp", "after_broadcast:cpfp"]
        await asyncio.to_thread(stack.coordinator.restart, points)
        await s.attest(run)
        assert await asyncio.to_thread(stack.coordinator.wait_exit, 120) == EXIT_CODE

        # Dead with the child persisted, before offering it: the restart sends that child.
        (child,) = children(stack, run.id)
        assert child["broadcast_at"] is None
        assert child["txid"] not in set(stack.chain.mempool_txids())
        await asyncio.to_thread(stack.coordinator.start, points[1:], wait=False)
        assert await asyncio.to_thread(stack.coordinator.wait_exit, 120) == EXIT_CODE

        # Dead right after the chain took the package, before recording it.
        (child,) = children(stack, run.id)
        assert child["broadcast_at"] is None and child["reason"] == "parent_rejected"
        mempool = set(stack.chain.mempool_txids())
        assert {child["parent_txid"], child["txid"]} <= mempool

        await asyncio.to_thread(stack.coordinator.start)

        async def recorded() -> bool:
            rows = children(stack, run.id)
            return len(rows) == 1 and rows[0]["broadcast_at"] is not None

        await s.until(recorded, within=60)
        assert await bumps_metric("kept") == 1.0
        assert await bumps_metric("broadcast") == 0.0  # nothing was built or sent again
        attested = await s.reach(run, "outcome_broadcasted")
        outcome_height = await s.mine_until_confirmed(attested["outcome_transaction"])
        assert stack.chain.tx_status(child["txid"])["block_height"] == outcome_height

        await s.call(lambda: winner.handle.player.invoice_and_request_payout(winner.record))
        await s.reach(run, "completed", mine=True)
    finally:
        stack.chain.set_min_fee_rate(0)
        stack.set_fee_estimates(DEFAULT_FEE_ESTIMATES)

    # One child, paid once: the anchor's only spender is the stored child.
    (final,) = children(stack, run.id)
    assert final["txid"] == child["txid"] and final["fee_sats"] <= BUDGET
    parent = s.tx(child["parent_txid"])
    anchor = find_anchor(parent)
    assert anchor is not None
    spend = stack.chain.get(f"/tx/{child['parent_txid']}/outspend/{anchor[0].vout}")
    assert spend["spent"] and spend["txid"] == child["txid"]
    assert "kept, not built again" in stack.coordinator.log_text()
    print(f"\ncrash: one child of {final['fee_sats']} sats ({final['package_rate'] / 250:.0f} "
          f"sat/vB package), budget {BUDGET}")  # fmt: skip
