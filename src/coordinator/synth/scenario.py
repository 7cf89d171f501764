"""The ``full_lifecycle`` scenario: create, enter and pay, sign, fund, attest, pay out, close.

Everything goes through the deployment's public and admin HTTP APIs and the headless player
client; each player pays its entry from its own Lightning node. On the devnet the monitor also
drives what the real world would: it funds the coordinator's wallet from the chain's faucet,
mines blocks while it waits, creates the players' Lightning nodes, and posts the weather and
asks the oracle to attest now, so a whole lifecycle finishes in minutes. Every step is timed
and recorded (:class:`~coordinator.synth.store.SynthStore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from coordinator.adapters.lightning import LndRestClient, ReconnectPolicy
from coordinator.player.api import CoordinatorApi, retry_while_unavailable
from coordinator.player.client import EntryRecord, Player
from coordinator.player.identity import PlayerIdentity
from coordinator.synth.store import SynthStore
from coordinator_core.bolt11 import BitcoinNetwork
from coordinator_core.ids import uuid7
from coordinator_core.keymeld.attestation import EnclaveTrust
from coordinator_core.nitro import attestation_trust
from coordinator_core.observations import StationPicks
from coordinator_core.oracle_api import rfc3339

log = logging.getLogger(__name__)

SCENARIO = "full_lifecycle"
STATE_ORDER = [
    "created", "collecting_entries", "entries_collected", "event_created", "entries_submitted",
    "contract_created", "awaiting_signatures", "signing_complete", "funding_broadcasted",
    "funding_confirmed", "funding_settled", "awaiting_attestation", "attested",
    "expiry_broadcasted", "outcome_broadcasted", "delta_broadcasted", "completed",
]  # fmt: skip
FORECAST = {"temp_high": 70, "temp_low": 50, "wind_speed": 10}
OBSERVED = {"temp_high": 75.0, "temp_low": 45.0, "wind_speed": 10}  # Over, Under, Par
#: The first player's picks are all right; each next player's are worse.
PICKS = [
    {"temp_high": "Over", "temp_low": "Under", "wind_speed": "Par"},
    {"temp_high": "Over", "temp_low": "Over", "wind_speed": "Par"},
    {"temp_high": "Over", "temp_low": "Over", "wind_speed": "Over"},
    {"temp_high": "Under", "temp_low": "Over", "wind_speed": "Over"},
]
FAST_RECONNECT = ReconnectPolicy(
    initial_delay_secs=0.1, max_delay_secs=0.5, settle_secs=0.2, idle_timeout_secs=30
)


class ScenarioFailed(Exception):
    pass


@dataclass(frozen=True)
class Devnet:
    """The devnet's control APIs (``Authorization: Bearer <token>``)."""

    chain_url: str
    lightning_url: str
    oracle_url: str
    token: str


@dataclass(frozen=True)
class SynthConfig:
    coordinator_url: str
    admin_url: str
    admin_token: str
    devnet: Devnet | None
    players: int = 2
    places: int = 1
    entry_fee: int = 10_000
    station: str = "KORD"
    delta: int = 12  # blocks; the payout window is about delta - payout_margin_blocks
    network: BitcoinNetwork = "regtest"
    pcr_pins: dict[str, str] = field(default_factory=dict)
    attestation_root: Path | None = None
    state_timeout_secs: float = 300.0
    poll_secs: float = 0.5
    coordinator_funds_sats: int = 1_000_000


@dataclass
class RunResult:
    run_id: int
    passed: bool
    competition_id: str | None
    error: str | None
    steps: list[tuple[str, float]]


class FullLifecycle:
    """One run of the scenario."""

    def __init__(self, config: SynthConfig, store: SynthStore) -> None:
        if config.devnet is None:
            raise ScenarioFailed(
                "the players' Lightning nodes, the chain and the oracle are driven on the devnet "
                "only: give the devnet control URLs and token"
            )
        self.config = config
        self.devnet = config.devnet
        self.store = store
        self.run_id = 0
        self.competition_id: str | None = None  # once created
        self.steps: list[tuple[str, float]] = []
        self.admin = httpx.AsyncClient(
            base_url=config.admin_url, timeout=30.0, trust_env=False,
            headers={"Authorization": f"Bearer {config.admin_token}"},
        )  # fmt: skip
        self.public = httpx.AsyncClient(base_url=config.coordinator_url, timeout=30.0)
        self.control = httpx.AsyncClient(
            timeout=30.0, trust_env=False, headers={"Authorization": f"Bearer {self.devnet.token}"}
        )
        self._closers: list[Callable[[], Awaitable[None]]] = []

    async def aclose(self) -> None:
        for close in [*self._closers, self.admin.aclose, self.public.aclose, self.control.aclose]:
            with contextlib.suppress(Exception):
                await close()

    # -- steps -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[None]:
        started, clock = time.time(), time.perf_counter()
        try:
            yield
        except BaseException as exc:
            seconds = time.perf_counter() - clock
            self.store.add_step(self.run_id, name, started, seconds, False, repr(exc)[:500])
            self.steps.append((name, seconds))
            raise
        seconds = time.perf_counter() - clock
        self.store.add_step(self.run_id, name, started, seconds, True)
        self.steps.append((name, seconds))
        log.info("synth: %s %.2fs", name, seconds)

    async def run(self) -> RunResult:
        self.run_id = self.store.start_run(SCENARIO)
        try:
            competition_id = await self._lifecycle()
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            log.error("synth: %s failed: %s", SCENARIO, message)
            self.store.finish_run(self.run_id, False, self.competition_id, message)
            return RunResult(self.run_id, False, self.competition_id, message, self.steps)
        finally:
            await self.aclose()
        self.store.finish_run(self.run_id, True, competition_id, None)
        return RunResult(self.run_id, True, competition_id, None, self.steps)

    async def _lifecycle(self) -> str:
        cfg = self.config
        async with self.step("fund_coordinator"):
            await self._fund_coordinator()
        async with self.step("create_competition"):
            terms = self._terms()
            created = await self._admin_json("POST", "/api/v1/competitions", terms, expect=201)
            competition_id = str(created["id"])
            self.competition_id = competition_id
        entrants: list[tuple[Player, EntryRecord]] = []
        for index in range(cfg.players):
            async with self.step(f"player_{index}_enter_and_pay"):
                entrants.append(await self._enter(competition_id, index))
        for state in ("signing_complete", "funding_broadcasted"):
            async with self.step(f"reach_{state}"):
                await self._reach(competition_id, state)
        for state in ("funding_confirmed", "awaiting_attestation"):
            async with self.step(f"reach_{state}"):
                await self._reach(competition_id, state, mine=True)
        async with self.step("attest"):
            await self._attest(terms)
            await self._reach(competition_id, "outcome_broadcasted")
        async with self.step("payouts"):
            await self._payouts(competition_id, entrants)
        async with self.step("reach_completed"):
            await self._reach(competition_id, "completed", mine=True)
        return competition_id

    # -- the operator's side -------------------------------------------------------------------

    async def _admin_json(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = await self.admin.request(method, path, json=body)
        if response.status_code != expect:
            raise ScenarioFailed(f"{method} {path}: HTTP {response.status_code} {response.text}")
        return response.json() if response.content else None

    async def _devnet(self, url: str, body: Any) -> Any:
        response = await self.control.post(url, json=body)
        if response.status_code not in (200, 201):
            raise ScenarioFailed(f"POST {url}: HTTP {response.status_code} {response.text}")
        return response.json()

    async def _mine(self, blocks: int = 1) -> None:
        await self._devnet(f"{self.devnet.chain_url}/devnet/mine", {"blocks": blocks})

    async def _fund_coordinator(self) -> None:
        want = self.config.coordinator_funds_sats
        balance = await self._admin_json("GET", "/api/v1/wallet/balance")
        if int(balance.get("confirmed", 0)) >= want:
            return
        address = (await self._admin_json("GET", "/api/v1/wallet/address"))["address"]
        await self._devnet(
            f"{self.devnet.chain_url}/devnet/faucet", {"address": address, "sats": want}
        )
        await self._mine()

        async def funded() -> bool:
            balance = await self._admin_json("GET", "/api/v1/wallet/balance")
            return int(balance.get("confirmed", 0)) >= want

        await self._until(funded, mine=True)

    def _terms(self) -> dict[str, Any]:
        cfg = self.config
        start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=10)
        end = start + dt.timedelta(minutes=1)
        return {
            "id": str(uuid7()),
            "signing_date": rfc3339(end + dt.timedelta(minutes=1)),
            "start_observation_date": rfc3339(start),
            "end_observation_date": rfc3339(end),
            "locations": [cfg.station],
            "number_of_values_per_entry": 3,
            "number_of_places_win": cfg.places,
            "total_allowed_entries": cfg.players,
            "entry_fee": cfg.entry_fee,
            "coordinator_fee_percentage": 10,
            "total_competition_pool": cfg.entry_fee * cfg.players,
            "relative_locktime_block_delta": cfg.delta,
        }

    async def _attest(self, terms: dict[str, Any]) -> None:
        start, end = terms["start_observation_date"], terms["end_observation_date"]
        station = self.config.station
        weather = {
            "forecasts": [{"station_id": station, "date": start[:10], **FORECAST}],
            "observations": [
                {"station_id": station, "start_time": start, "end_time": end, **OBSERVED}
            ],
        }
        await self._devnet(f"{self.devnet.oracle_url}/devnet/weather", weather)
        await self._devnet(f"{self.devnet.oracle_url}/devnet/events/{terms['id']}/attest", None)

    # -- the players' side ---------------------------------------------------------------------

    def _trust(self) -> EnclaveTrust | None:
        if not self.config.pcr_pins:
            return None
        pins: dict[str | int, str] = dict(self.config.pcr_pins.items())
        trust = attestation_trust(
            "test", pcr_pins=pins, trust_root_file=self.config.attestation_root
        )
        return EnclaveTrust(trust)

    async def _enter(self, competition_id: str, index: int) -> tuple[Player, EntryRecord]:
        identity = PlayerIdentity.generate(self.config.network)
        alias = f"synth-{index}-{uuid.uuid4().hex[:8]}"
        node = await self._devnet(
            f"{self.devnet.lightning_url}/devnet/nodes",
            {"alias": alias, "balance_sats": 10 * self.config.entry_fee + 100_000},
        )
        lightning = LndRestClient(
            self.devnet.lightning_url + node["base_path"], network=self.config.network,
            macaroon=bytes.fromhex(node["macaroon_hex"]), max_retries=2,
            min_invoice_validity_secs=0.0, reconnect=FAST_RECONNECT,
        )  # fmt: skip
        api = CoordinatorApi(self.config.coordinator_url, identity.nostr_secret)
        self._closers += [lightning.aclose, api.aclose]
        player = Player(identity, api, None, lightning, self._trust())
        record = await retry_while_unavailable(lambda: player.reserve(uuid.UUID(competition_id)))
        await player.register(record)
        await player.pay(record)
        await player.wait_for_ticket(record, timeout_secs=60)
        picks = [StationPicks.model_validate({"stations": self.config.station, **PICKS[index % 4]})]
        await player.submit_entry(record, picks)
        return player, record

    async def _payouts(
        self, competition_id: str, entrants: list[tuple[Player, EntryRecord]]
    ) -> None:
        from coordinator.player.api import ApiError

        winners = 0
        for player, record in entrants:
            if await player.owed_sats(record) <= 0:
                continue
            winners += 1

            # The payout window opens once the outcome transaction confirms: one block, then
            # time for the coordinator to see it (more blocks would narrow the window).
            deadline = time.monotonic() + self.config.state_timeout_secs
            mined_at = 0.0
            while True:
                try:
                    await player.invoice_and_request_payout(record)
                    break
                except ApiError as exc:
                    # 409 until the window opens; 503 while the coordinator's node is away.
                    if exc.status not in (409, 503) or time.monotonic() > deadline:
                        raise
                if time.monotonic() - mined_at > 10:
                    await self._mine()
                    mined_at = time.monotonic()
                await asyncio.sleep(self.config.poll_secs)
        if winners == 0:
            raise ScenarioFailed("the settled outcome pays nobody over Lightning")

        async def paid() -> bool:
            details = await self._admin_json("GET", f"/api/v1/admin/competitions/{competition_id}")
            succeeded = [p for p in details["payouts"] if p["status"] == "succeeded"]
            return len(succeeded) >= winners

        await self._until(paid)

    # -- waiting --------------------------------------------------------------------------------

    async def _reach(self, competition_id: str, state: str, mine: bool = False) -> None:
        target = STATE_ORDER.index(state)

        async def reached() -> bool:
            response = await self.public.get(f"/api/v1/competitions/{competition_id}")
            response.raise_for_status()
            current = str(response.json()["state"])
            if current in ("failed", "cancelled"):
                raise ScenarioFailed(f"competition {current}: {response.json().get('errors')}")
            return current in STATE_ORDER and STATE_ORDER.index(current) >= target

        await self._until(reached, mine=mine)

    async def _until(self, check: Callable[[], Awaitable[bool]], mine: bool = False) -> None:
        deadline = time.monotonic() + self.config.state_timeout_secs
        while not await check():
            if time.monotonic() > deadline:
                raise ScenarioFailed(f"not reached within {self.config.state_timeout_secs:.0f}s")
            if mine:
                await self._mine()
            await asyncio.sleep(self.config.poll_secs)
