"""Driving a competition through the coordinator's HTTP APIs on a devnet stack.

The coordinator runs as ``coordinator serve`` (``tests/support/stack.py``); operators use the
admin listener with its bearer token, players use ``coordinator.player`` over NIP-98.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from coordinator.player.client import EntryRecord
from coordinator_core.ids import uuid7
from coordinator_core.keymeld.attestation import new_challenge
from coordinator_core.keymeld.registration import seal_registration
from coordinator_core.observations import StationPicks
from tests.support.stack import DevnetStack, PlayerHandle

STATION = "KORD"


def create_body(
    entries: int,
    places: int,
    *,
    start_in: dt.timedelta = dt.timedelta(minutes=30),
    values: int = 3,
    entry_fee: int = 10_000,
    delta: int | None = None,
) -> dict[str, Any]:
    start = dt.datetime.now(dt.UTC) + start_in
    body: dict[str, Any] = {
        "id": str(uuid7()),
        "signing_date": (start + dt.timedelta(hours=2)).isoformat(),
        "start_observation_date": start.isoformat(),
        "end_observation_date": (start + dt.timedelta(hours=1)).isoformat(),
        "locations": [STATION],
        "number_of_values_per_entry": values,
        "number_of_places_win": places,
        "total_allowed_entries": entries,
        "entry_fee": entry_fee,
        "coordinator_fee_percentage": 10,
        "total_competition_pool": entry_fee * entries,
    }
    if delta is not None:
        body["relative_locktime_block_delta"] = delta
    return body


async def fund_coordinator(stack: DevnetStack, sats: int = 2_000_000) -> None:
    address = stack.admin.call("GET", "/api/v1/wallet/address")["address"]
    await asyncio.to_thread(stack.chain.faucet, address, sats)
    await asyncio.to_thread(stack.mine, 1)

    async def funded() -> bool:
        balance = stack.admin.call("GET", "/api/v1/wallet/balance")
        return int(balance["confirmed"]) >= sats

    await until(funded, within=60)


async def until(check: Callable[[], Awaitable[bool]], within: float = 60.0, step=None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        if step is not None:
            await step()
        await asyncio.sleep(0.2)


def state(stack: DevnetStack, competition_id: str) -> str:
    found = stack.admin.call("GET", f"/api/v1/admin/competitions/{competition_id}")
    assert found["state"] not in ("failed", "cancelled"), (found["state"], found["errors"])
    return str(found["state"])


async def wait_state(
    stack: DevnetStack, competition_id: str, wanted: str, within: float = 90.0, mine: bool = False
) -> None:
    async def reached() -> bool:
        return state(stack, competition_id) == wanted

    async def mine_one() -> None:
        await asyncio.to_thread(stack.mine, 1)

    await until(reached, within, mine_one if mine else None)


async def register(stack: DevnetStack, player: PlayerHandle, record: EntryRecord) -> dict[str, Any]:
    """GET the slot, seal the entry key to the attested enclave, POST it back (pre-payment)."""
    offer = await player.api.registration_slot(
        record.competition_uuid, record.ticket_uuid, new_challenge()
    )
    trust = stack.enclave_trust()
    assert trust is not None
    sealed = seal_registration(offer, player.player.keys(record).secret, trust)
    answer: dict[str, Any] = await player.api.request(
        "POST",
        f"/api/v1/competitions/{record.competition_id}/tickets/{record.ticket_id}/registration",
        body=sealed.to_json(),
    )
    return answer


async def enter(
    stack: DevnetStack, player: PlayerHandle, competition_id: str, picks: list[StationPicks]
) -> EntryRecord:
    record = await player.player.reserve(uuid.UUID(competition_id))
    await register(stack, player, record)
    await player.player.pay(record)
    await player.player.wait_for_ticket(record, timeout_secs=30)
    await player.player.submit_entry(record, picks)
    return record


def picks(*comparisons: str) -> list[StationPicks]:
    metrics = ("temp_high", "temp_low", "wind_speed")
    return [StationPicks(stations=STATION, **dict(zip(metrics, comparisons, strict=False)))]


def weather(body: dict[str, Any], high_observed: float) -> dict[str, list[dict[str, Any]]]:
    start = dt.datetime.fromisoformat(body["start_observation_date"])
    end = dt.datetime.fromisoformat(body["end_observation_date"])
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
