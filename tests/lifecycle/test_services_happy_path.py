"""A whole competition through the lifecycle's services on the devnet: creation, tickets paid
over Lightning, registration with the signing gateway, kickoff, funding, attestation, payouts,
cooperative close — and the money adds up to the satoshi."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from coordinator.app.competitions.creation import create_competition
from coordinator.app.competitions.payouts import PayoutRequest, request_payout
from coordinator.domain.competitions.records import PayoutStatus, TxKind
from coordinator.domain.competitions.states import State
from tests.lifecycle.factories import make_terms
from tests.lifecycle.world import World, enter, picks
from ticketdlc.bitcoin.tx import Transaction

pytestmark = pytest.mark.slow

STATION = "KORD"


def weather(start: dt.datetime, end: dt.datetime, high_observed: float) -> dict[str, list]:
    return {
        "forecasts": [
            {"station_id": STATION, "date": start.date().isoformat(), "temp_low": 50,
             "temp_high": 70, "wind_speed": 10}
        ],
        "observations": [
            {"station_id": STATION, "start_time": start.isoformat(), "end_time": end.isoformat(),
             "temp_low": 49.0, "temp_high": high_observed, "wind_speed": 10}
        ],
    }  # fmt: skip


async def test_happy_path_three_players_one_place(world: World) -> None:
    lc = world.lc
    terms = make_terms(
        3, 1, now=world.now(), start_in=dt.timedelta(minutes=30), locations=(STATION,), values=1
    )
    competition = await create_competition(lc, terms)
    assert competition.state is State.CREATED
    assert competition.progress.keygen_opened_at is not None

    players = [await world.player() for _ in range(3)]
    balances_before = [(await p.lightning.channel_balance()).local_msat for p in players]
    choices = [picks(STATION, "Over"), picks(STATION, "Under"), picks(STATION, "Par")]
    seats = [await enter(world, p, terms.id, c) for p, c in zip(players, choices, strict=True)]

    await world.eventually(lambda: state_is(world, terms.id, State.FUNDING_BROADCASTED), within=60)
    await world.eventually(
        lambda: state_is(world, terms.id, State.AWAITING_ATTESTATION), within=30, mine=True
    )
    start, end = terms.start_observation_date, terms.end_observation_date
    response = world.oracle.put_weather(**weather(start, end, 75.0))
    assert response.status_code == 200, response.text
    response = world.oracle.attest(terms.id)
    assert response.status_code == 200, response.text
    await world.eventually(lambda: state_is(world, terms.id, State.OUTCOME_BROADCASTED))
    await world.eventually(lambda: outcome_confirmed(world, terms.id), mine=True)

    winner = seats[0]  # "Over" was right
    invoice = await winner.player.lightning.create_invoice(
        terms.total_competition_pool * 1000, 600, "payout", cltv_expiry=4
    )
    payout = await request_payout(
        lc,
        world.services.sender,
        winner.player.pubkey,
        terms.id,
        winner.entry_id,
        PayoutRequest(
            winner.ticket_id, winner.payout_preimage, winner.secret, invoice.payment_request
        ),
    )
    assert payout.status is PayoutStatus.SUCCEEDED
    assert payout.amount_sats == terms.total_competition_pool
    await world.eventually(lambda: state_is(world, terms.id, State.COMPLETED), mine=True)

    done = await lc.store.load(terms.id)
    assert done is not None
    txs = {t.kind: t for t in await lc.store.txs_of(terms.id)}
    assert set(txs) == {TxKind.FUNDING, TxKind.OUTCOME, TxKind.CLOSE}
    # Entry fees went to the coordinator (settled); the winner got the pool over Lightning.
    balances_after = [(await p.lightning.channel_balance()).local_msat for p in players]
    price = terms.ticket_price_sats * 1000
    for i, (before, after) in enumerate(zip(balances_before, balances_after, strict=True)):
        fees_paid = before - after + (payout.amount_sats * 1000 if i == 0 else 0)
        assert fees_paid >= price  # the ticket price plus the devnet's routing fee
    # On chain: the funding output went to the outcome transaction, whose output (minus its
    # anchor) went to the coordinator's wallet in the close; every satoshi is accounted for.
    funding = Transaction.from_hex(txs[TxKind.FUNDING].raw_hex)
    outcome = Transaction.from_hex(txs[TxKind.OUTCOME].raw_hex)
    close = Transaction.from_hex(txs[TxKind.CLOSE].raw_hex)
    vout = int(done.funding_outpoint.split(":")[1])  # type: ignore[union-attr]
    funded = funding.outputs[vout].value
    assert funded == terms.total_competition_pool
    outcome_fee = funded - sum(o.value for o in outcome.outputs)
    close_fee = outcome.outputs[0].value - sum(o.value for o in close.outputs)
    anchor = sum(o.value for o in outcome.outputs[1:])
    assert funded == close.outputs[0].value + outcome_fee + close_fee + anchor
    assert anchor == lc.settings.competitions.anchor_value_sats


async def state_is(world: World, competition_id, state: State) -> bool:  # type: ignore[no-untyped-def]
    c = await world.lc.store.load(competition_id, documents=False)
    assert c is not None
    assert c.state not in (State.FAILED, State.CANCELLED), (c.state, c.errors)
    return c.state is state


async def outcome_confirmed(world: World, competition_id) -> bool:  # type: ignore[no-untyped-def]
    txs = await world.lc.store.txs_of(competition_id)
    outcome = next((t for t in txs if t.kind is TxKind.OUTCOME), None)
    if outcome is None:
        return False
    status = await world.lc.chain.tx_status(outcome.txid)
    await asyncio.sleep(0)
    return status is not None and status.confirmed
