"""What the end-to-end scenarios share: competitions created over the admin API, players that
enter through the player client and pay from their own devnet LND nodes, weather that makes a
chosen ranking, waiting for states while mining, and the money accounting.

Every step goes over HTTP to the processes of :mod:`tests.support.stack`; nothing of the
coordinator runs in the test process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from coordinator.player.api import retry_while_unavailable
from coordinator.player.client import EntryRecord
from coordinator_core.ids import uuid7
from coordinator_core.observations import StationPicks
from coordinator_core.oracle_api import rfc3339
from tests.support.stack import COORDINATOR_NODE, DevnetStack, PlayerHandle
from ticketdlc.bitcoin.tx import Transaction

STATION = "KORD"
#: Forecast and observation that make each metric's right pick certain.
FORECAST = {"temp_high": 70, "temp_low": 50, "wind_speed": 10}
OBSERVED = {"temp_high": 75.0, "temp_low": 45.0, "wind_speed": 10}  # Over, Under, Par
#: Picks scoring 40, 30, 20, 10 and 0 points (so player i of the list ranks i-th).
RANKED_PICKS: list[dict[str, str]] = [
    {"temp_high": "Over", "temp_low": "Under", "wind_speed": "Par"},
    {"temp_high": "Over", "temp_low": "Over", "wind_speed": "Par"},
    {"temp_high": "Over", "temp_low": "Under", "wind_speed": "Over"},
    {"temp_high": "Over", "temp_low": "Over", "wind_speed": "Over"},
    {"temp_high": "Under", "temp_low": "Over", "wind_speed": "Over"},
]
#: Picks scoring nothing: an event whose entries all score 0 attests refund-all.
ZERO_PICKS = {"temp_high": "Under", "temp_low": "Over", "wind_speed": "Over"}

#: Lifecycle states in order (the ``state`` strings of the API).
STATE_ORDER = [
    "created", "collecting_entries", "entries_collected", "event_created", "entries_submitted",
    "contract_created", "awaiting_signatures", "signing_complete", "funding_broadcasted",
    "funding_confirmed", "funding_settled", "awaiting_attestation", "attested",
    "expiry_broadcasted", "outcome_broadcasted", "delta_broadcasted", "completed",
]  # fmt: skip
TERMINAL = {"completed", "cancelled", "failed"}


def picks(spec: dict[str, str]) -> list[StationPicks]:
    return [StationPicks.model_validate({"stations": STATION, **spec})]


@dataclass
class Entrant:
    """A player of one competition and its ticket."""

    handle: PlayerHandle
    record: EntryRecord
    balance_before_msat: int


@dataclass
class CompetitionRun:
    """One competition of a scenario and what was observed of it."""

    id: str
    terms: dict[str, Any]
    entrants: list[Entrant] = field(default_factory=list)
    states: list[str] = field(default_factory=list)  # distinct states seen, in order

    def note(self, state: str) -> None:
        if not self.states or self.states[-1] != state:
            self.states.append(state)


class Scenario:
    """Drives one stack through competitions."""

    def __init__(self, stack: DevnetStack, patient: bool = False) -> None:
        self.stack = stack
        self.http = httpx.AsyncClient(base_url=stack.coordinator.url, timeout=30.0)
        # Patient: the coordinator may be down for a moment (a crash test restarts it), so
        # every call is retried on a dropped connection or a 5xx answer.
        self.patient = patient

    async def call(self, action: Callable[[], Any], within: float = 180.0) -> Any:
        """``await action()``; when patient, retried while the coordinator is unavailable."""
        from coordinator.player.api import ApiError
        from coordinator_core.errors import TransientError

        deadline = time.monotonic() + within
        while True:
            try:
                return await action()
            except (httpx.TransportError, TransientError, ApiError, _Unavailable) as exc:
                status = getattr(exc, "status", 503)
                if not self.patient or status < 500 or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- operator -----------------------------------------------------------------------------

    async def admin(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        async def once() -> Any:
            response = await asyncio.to_thread(self.stack.admin.request, method, path, body)
            if response.status_code >= 500:
                raise _Unavailable(response.text)
            if response.status_code != expect:
                raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
            return response.json() if response.content else None

        return await self.call(once)

    async def fund_coordinator(self, sats: int = 2_000_000) -> None:
        """Faucet the coordinator's wallet and wait until it sees the coins confirmed."""
        address = (await self.admin("GET", "/api/v1/wallet/address"))["address"]
        await asyncio.to_thread(self.stack.chain.faucet, address, sats)
        await asyncio.to_thread(self.stack.mine, 1)

        async def funded() -> bool:
            balance = await self.admin("GET", "/api/v1/wallet/balance")
            return int(balance.get("confirmed", 0)) >= sats

        await self.until(funded, within=60)

    def terms(
        self,
        entries: int,
        places: int,
        *,
        entry_fee: int = 10_000,
        fee_percentage: int = 10,
        entry_window_secs: int = 600,
        **extra: Any,
    ) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        start = now + dt.timedelta(seconds=entry_window_secs)
        end = start + dt.timedelta(seconds=60)
        return {
            "id": str(uuid7()),
            "signing_date": rfc3339(end + dt.timedelta(seconds=60)),
            "start_observation_date": rfc3339(start),
            "end_observation_date": rfc3339(end),
            "locations": [STATION],
            "number_of_values_per_entry": 3,
            "number_of_places_win": places,
            "total_allowed_entries": entries,
            "entry_fee": entry_fee,
            "coordinator_fee_percentage": fee_percentage,
            "total_competition_pool": entry_fee * entries,
            "relative_locktime_block_delta": self.stack.options.delta,
            **extra,
        }

    async def create(self, entries: int, places: int, **terms: Any) -> CompetitionRun:
        body = self.terms(entries, places, **terms)
        created = await self.admin("POST", "/api/v1/competitions", body, expect=201)
        run = CompetitionRun(created["id"], body)
        run.note(created["state"])
        return run

    # -- players ------------------------------------------------------------------------------

    async def node_msat(self, alias: str) -> int:
        async with self.stack.lightning_control() as control:
            node = await control.node(alias)
        return node.balance_msat

    async def enter(
        self,
        run: CompetitionRun,
        name: str,
        choice: dict[str, str],
        *,
        pay: bool = True,
        submit: bool = True,
        balance_sats: int = 200_000,
    ) -> Entrant:
        """A new player reserves a ticket, registers, pays and submits its entry."""
        handle = await self.stack.new_player(name, balance_sats)
        before = await self.node_msat(handle.node.alias)
        player = handle.player
        record = await retry_while_unavailable(
            lambda: self.call(lambda: player.reserve(_uuid(run.id)))
        )
        await self.call(lambda: player.register(record))
        entrant = Entrant(handle, record, before)
        run.entrants.append(entrant)
        if pay:
            await player.pay(record)
            await self.call(lambda: player.wait_for_ticket(record, timeout_secs=60))
            if submit:
                await self.call(lambda: player.submit_entry(record, picks(choice)))
        return entrant

    async def fill(self, run: CompetitionRun, choices: Sequence[dict[str, str]]) -> list[Entrant]:
        return [await self.enter(run, f"p{i}", choice) for i, choice in enumerate(choices)]

    # -- observing ----------------------------------------------------------------------------

    async def competition(self, run: CompetitionRun) -> dict[str, Any]:
        async def once() -> httpx.Response:
            response = await self.http.get(f"/api/v1/competitions/{run.id}")
            if response.status_code >= 500:
                raise _Unavailable(response.text)
            response.raise_for_status()
            return response

        data: dict[str, Any] = (await self.call(once)).json()
        run.note(data["state"])
        return data

    async def details(self, run: CompetitionRun) -> dict[str, Any]:
        """The admin view: history, tickets, payouts, transactions, owed winners."""
        data: dict[str, Any] = await self.admin("GET", f"/api/v1/admin/competitions/{run.id}")
        run.note(data["state"])
        return data

    async def until(
        self, check: Callable[[], Any], within: float = 120.0, mine: bool = False,
        interval: float = 0.3,
    ) -> None:  # fmt: skip
        deadline = time.monotonic() + within
        while not await check():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not reached in {within:.0f}s")
            if mine:
                await asyncio.to_thread(self.stack.mine, 1)
            await asyncio.sleep(interval)

    async def reach(
        self, run: CompetitionRun, state: str, within: float = 180.0, mine: bool = False
    ) -> dict[str, Any]:
        """Wait until the competition is in ``state`` or later (fails on an unexpected end)."""
        target = STATE_ORDER.index(state)
        latest: dict[str, Any] = {}

        async def reached() -> bool:
            nonlocal latest
            latest = await self.competition(run)
            current = latest["state"]
            if current in ("cancelled", "failed") and state not in ("cancelled", "failed"):
                raise AssertionError(
                    f"competition {current}: {latest.get('errors')} {latest.get('cancel_reason')}"
                    f"\n{self.stack.coordinator.log_tail(40)}"
                )
            return current == state or (
                current in STATE_ORDER and STATE_ORDER.index(current) >= target
            )

        await self.until(reached, within=within, mine=mine)
        return latest

    # -- the oracle ---------------------------------------------------------------------------

    def weather(self, run: CompetitionRun) -> None:
        start, end = run.terms["start_observation_date"], run.terms["end_observation_date"]
        self.stack.post_weather(
            [{"station_id": STATION, "date": start[:10], **FORECAST}],
            [{"station_id": STATION, "start_time": start, "end_time": end, **OBSERVED}],
        )

    async def attest(self, run: CompetitionRun) -> dict[str, Any]:
        self.weather(run)
        return await asyncio.to_thread(self.stack.attest, run.id)

    # -- payouts and claims ---------------------------------------------------------------------

    async def request_payout(self, entrant: Entrant, amount_sats: int) -> Any:
        """The winner works out what it is owed (which must be ``amount_sats``), invoices its
        own node for it and asks to be paid."""
        player = entrant.handle.player
        from coordinator.player.api import ApiError

        owed = await self.call(lambda: player.owed_sats(entrant.record))
        assert owed == amount_sats, f"{entrant.handle.name} is owed {owed}, not {amount_sats}"
        try:
            return await self.call(lambda: player.invoice_and_request_payout(entrant.record))
        except ApiError as exc:
            # A request that the coordinator took before dying mid-answer: retried, it is told
            # the payout is under way already (or, once the restarted coordinator found the
            # payment made, that it was paid), which is what was asked.
            done = "in progress" in exc.message or "already paid out" in exc.message
            if exc.status == 409 and done and self.patient:
                return None
            raise

    async def payouts(self, run: CompetitionRun, status: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self.details(run))["payouts"]
        return [p for p in items if status is None or p["status"] == status]

    async def claim_on_chain(
        self, entrant: Entrant, destination: bytes, fee_rate: int = 2, max_blocks: int = 80
    ) -> Any:
        """Run the player's on-chain claim, mining a block whenever it waits."""
        from coordinator.adapters.chain.esplora import EsploraClient
        from coordinator.player.claim import ClaimState

        async with EsploraClient(self.stack.chain.url) as chain:
            facts = None
            for _ in range(max_blocks):
                from coordinator.player.public import oracle_facts

                facts = await oracle_facts(self.stack.oracle.url, entrant.record.competition_uuid)
                progress = await entrant.handle.player.claim(
                    entrant.record, chain, destination, fee_rate, facts.attestation
                )
                if progress.finished:
                    assert progress.state is ClaimState.CLAIMED, progress
                    return progress
                await asyncio.to_thread(self.stack.mine, 1)
                await asyncio.sleep(0.2)
        raise AssertionError("the on-chain claim did not finish")

    # -- chain --------------------------------------------------------------------------------

    async def mine_until_confirmed(self, raw_tx_hex: str, within: float = 60.0) -> int:
        """Mine until the transaction is confirmed; returns its height."""
        txid = Transaction.from_hex(raw_tx_hex).txid_hex()

        async def confirmed() -> bool:
            status = await asyncio.to_thread(self.stack.chain.tx_status, txid)
            return bool(status.get("confirmed"))

        await self.until(confirmed, within=within, mine=True)
        height: int = (await asyncio.to_thread(self.stack.chain.tx_status, txid))["block_height"]
        return height

    def tx(self, txid: str) -> Transaction:
        return Transaction.from_hex(self.stack.chain.get(f"/tx/{txid}/hex"))

    def fee_of(self, txid: str) -> int:
        fee: int = self.stack.chain.tx(txid)["fee"]
        return fee

    async def coordinator_ln_msat(self) -> int:
        return await self.node_msat(COORDINATOR_NODE)


class _Unavailable(Exception):
    """A 5xx answer (the coordinator is restarting or busy)."""

    status = 503


def _uuid(text: str) -> Any:
    import uuid

    return uuid.UUID(text)


def assert_in_order(states: Sequence[str]) -> None:
    """The states seen are a sub-sequence of the lifecycle order (none out of order)."""
    positions = [STATE_ORDER.index(s) for s in states if s in STATE_ORDER]
    assert positions == sorted(positions), f"states out of order: {states}"
