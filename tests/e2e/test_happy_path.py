"""A whole competition over HTTP: five players, three places, every winner paid over Lightning,
one cooperative close, and every satoshi accounted for.

Real parts only: the coordinator process (``coordinator serve``), the devnet chain validated by
the kernel, devnet Lightning nodes for the coordinator and each player, the devnet oracle and
the devnet signing gateway; the players are the headless player client.
"""

from __future__ import annotations

import datetime as dt

import pytest

from coordinator.domain.ports.lightning import PaymentStatus
from tests.e2e.scenario import RANKED_PICKS, Scenario, assert_in_order

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

MILESTONES = [
    "event_created_at", "entries_submitted_at", "contracted_at", "keymeld_keygen_completed_at",
    "signed_at", "funding_broadcasted_at", "funding_confirmed_at", "funding_settled_at",
    "awaiting_attestation_at", "attested_at", "outcome_broadcasted_at", "delta_broadcasted_at",
    "completed_at",
]  # fmt: skip
WEIGHTS = (45, 35, 20)


async def test_happy_path_five_players_three_places(scenario: Scenario) -> None:
    s = scenario
    wallet_before = int((await s.admin("GET", "/api/v1/wallet/balance"))["confirmed"])
    ln_before = await s.coordinator_ln_msat()
    run = await s.create(5, 3, entry_fee=10_000, fee_percentage=10)
    entrants = await s.fill(run, RANKED_PICKS)
    price = entrants[0].record.amount_sats
    assert price == 11_000

    await s.reach(run, "funding_broadcasted", within=240)
    await s.reach(run, "awaiting_attestation", mine=True)
    # Every player can check its own payout paths in the published contract.
    for entrant in entrants:
        report = await entrant.handle.player.verify_contract(
            entrant.record, s.stack.oracle.url, _esplora(s)
        )
        assert report.ok, report.render()
    await s.attest(run)
    attested = await s.reach(run, "outcome_broadcasted")
    await s.mine_until_confirmed(attested["outcome_transaction"])

    pool = run.terms["total_competition_pool"]
    for entrant, weight in zip(entrants[:3], WEIGHTS, strict=True):
        await s.request_payout(entrant, pool * weight // 100)

    async def all_paid() -> bool:
        payouts = (await s.details(run))["payouts"]
        return sum(p["status"] == "succeeded" for p in payouts) == 3

    await s.until(all_paid, within=120)
    done = await s.reach(run, "completed", mine=True, within=240)
    details = await s.details(run)

    # Every state in order, and every milestone set in that order.
    assert_in_order(run.states)
    assert run.states[-1] == "completed"
    history = {h["milestone"]: dt.datetime.fromisoformat(h["at"]) for h in details["history"]}
    missing = [m for m in MILESTONES if m not in history]
    assert not missing, missing
    times = [history[m] for m in MILESTONES]
    assert times == sorted(times), list(zip(MILESTONES, times, strict=True))
    kinds = [t["kind"] for t in details["transactions"]]
    assert "close" in kinds and "split" not in kinds, kinds

    # Money: each winner got exactly its weight's share; each loser paid its ticket.
    payouts = {p["entry_id"]: p for p in details["payouts"]}
    ln_fees_msat = 0
    for index, entrant in enumerate(entrants):
        payment = await entrant.handle.lightning.track_payment(
            bytes.fromhex(entrant.record.payment_hash)
        )
        assert payment.status is PaymentStatus.SUCCEEDED and payment.amount_msat == price * 1000
        after = await s.node_msat(entrant.handle.node.alias)
        paid_out = 0
        if index < 3:
            payout = payouts[entrant.record.entry_id]
            paid_out = pool * WEIGHTS[index] // 100
            assert payout["amount_sats"] == paid_out
            ln_fees_msat += payout["fee_msat"]
        assert after == entrant.balance_before_msat - price * 1000 - payment.fee_msat + (
            paid_out * 1000
        )
    payouts_msat = sum(p["amount_sats"] for p in payouts.values()) * 1000
    ln_delta = await s.coordinator_ln_msat() - ln_before
    assert ln_delta == 5 * price * 1000 - payouts_msat - ln_fees_msat

    # On chain: the funding output went to fees and the coordinator's close output (and the
    # anchors); nothing else.
    funding_txid = done["funding_outpoint"].split(":")[0]
    funding_fee = s.fee_of(funding_txid)
    contract_fees = sum(s.fee_of(t["txid"]) for t in details["transactions"]
                        if t["kind"] != "funding")  # fmt: skip
    close = next(t for t in details["transactions"] if t["kind"] == "close")
    close_tx = s.tx(close["txid"])
    leaves = sum(o.value for o in close_tx.outputs) + _anchor_values(s, details)
    assert pool == leaves + contract_fees

    async def wallet_settled() -> bool:
        balance = await s.admin("GET", "/api/v1/wallet/balance")
        return int(balance["confirmed"]) == wallet_before - pool - funding_fee + sum(
            o.value for o in close_tx.outputs
        )

    await s.until(wallet_settled, within=60, mine=True)
    wallet_delta = -pool - funding_fee + sum(o.value for o in close_tx.outputs)
    # entry fees in = payouts + on-chain outputs to others + fees + the coordinator's share
    coordinator_share_msat = ln_delta + wallet_delta * 1000
    fees_msat = ln_fees_msat + (funding_fee + contract_fees) * 1000
    others_msat = _anchor_values(s, details) * 1000
    assert 5 * price * 1000 == payouts_msat + others_msat + fees_msat + coordinator_share_msat


def _esplora(s: Scenario):  # type: ignore[no-untyped-def]
    from coordinator.adapters.chain.esplora import EsploraClient

    return EsploraClient(s.stack.chain.url)


def _anchor_values(s: Scenario, details: dict) -> int:  # type: ignore[type-arg]
    """Value left in the settlement transactions' pay-to-anchor outputs (anyone can spend)."""
    total = 0
    for t in details["transactions"]:
        if t["kind"] == "funding":
            continue
        for output in s.tx(t["txid"]).outputs:
            if output.script_pubkey == bytes.fromhex("51024e73"):
                total += output.value
    return total
