"""The lifecycle's services on the real devnet: chain, Lightning and oracle processes over HTTP,
a BDK wallet, real SQLite, and the coordinator's adapters; the lifecycle in process.

``devnet`` (session scope) starts the four services once; ``world`` (per test) builds a fresh
coordinator on them: its own Lightning node, wallet, database and keys.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from coordinator.adapters.chain.esplora import EsploraClient
from coordinator.adapters.lightning import LndRestClient, ReconnectPolicy
from coordinator.adapters.oracle.client import NoaaOracleClient, RetryPolicy
from coordinator.adapters.signer.keymeld import KeymeldConfig, KeymeldSigner, PollPolicy
from coordinator.adapters.sqlite.competitions import SqliteCompetitionStore
from coordinator.adapters.sqlite.database import Database
from coordinator.adapters.sqlite.migrations import migrate
from coordinator.adapters.wallet.bdk_wallet import BdkWallet
from coordinator.app.competitions.context import Lifecycle
from coordinator.app.competitions.creation import create_competition
from coordinator.app.competitions.entries import EntryRequest, submit_entry
from coordinator.app.competitions.payouts import PayoutRequest, request_payout
from coordinator.app.competitions.registration import (
    RegistrationRequest,
    register,
    registration_slot,
)
from coordinator.app.competitions.service import CompetitionServices
from coordinator.app.competitions.tickets import reserve_ticket
from coordinator.config import DbSettings, Settings, load_settings
from coordinator.domain.competitions.payouts import payout_amount
from coordinator.domain.competitions.records import Competition, Entry, Payout, TxKind
from coordinator.domain.competitions.states import State
from coordinator.domain.competitions.terms import CompetitionTerms
from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.signer import SignerLimits
from coordinator_core.keymeld.attestation import new_challenge
from coordinator_core.keymeld.limits import REAL_GATEWAY
from coordinator_core.keymeld.registration import SlotOffer, seal_registration
from coordinator_core.observations import StationPicks
from devnet.launcher import ServiceProcess, service_spec
from devnet.lightning.control import DevnetNode, LightningDevnetControl
from tests.conftest import free_port
from tests.support.chain import ChainHandle, running_chain
from tests.support.oracle import OracleHandle, running_oracle
from tests.support.signer import SignerHandle, running_signer
from ticketdlc.contract import Outcome
from ticketdlc.contract.jsoncodec import params_from_json
from ticketdlc.crypto.secp import Point

LN_TOKEN = "lifecycle-lightning-token"
FAST = ReconnectPolicy(initial_delay_secs=0.1, max_delay_secs=0.5, settle_secs=0.2)
EXPIRY_DELAY_SECS = 60


@dataclass
class Devnet:
    chain: ChainHandle
    lightning: ServiceProcess
    oracle: OracleHandle
    signer: SignerHandle


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    root = tmp_path_factory.mktemp("devnet")
    lightning = ServiceProcess(
        service_spec("lightning"),
        free_port(),
        root / "lightning",
        LN_TOKEN,
        ["--log-level", "warning"],
    ).start()
    try:
        with (
            running_chain(root / "chain", free_port()) as chain,
            running_oracle(
                root / "oracle",
                free_port(),
                seed="11" * 32,
                extra=["--expiry-delay-secs", str(EXPIRY_DELAY_SECS)],
            ) as oracle,
            running_signer(root / "signer", free_port()) as signer,
        ):
            yield Devnet(chain, lightning, oracle, signer)
    finally:
        lightning.stop()


def lnd(node: DevnetNode) -> LndRestClient:
    return LndRestClient(
        node.base_url,
        network="regtest",
        macaroon=node.macaroon,
        max_retries=1,
        min_invoice_validity_secs=0.0,
        reconnect=FAST,
    )


@dataclass
class Player:
    """A player with its own Lightning node (paying entry fees, receiving payouts)."""

    pubkey: str  # nostr pubkey (hex)
    node: DevnetNode
    lightning: LndRestClient


@dataclass
class World:
    devnet: Devnet
    settings: Settings
    lc: Lifecycle
    services: CompetitionServices
    control: LightningDevnetControl
    coordinator_node: DevnetNode
    db: Database
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    clock_offset: dt.timedelta = dt.timedelta(0)

    @property
    def chain(self) -> ChainHandle:
        return self.devnet.chain

    @property
    def oracle(self) -> OracleHandle:
        return self.devnet.oracle

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.clock_offset

    async def player(self, balance_sats: int = 1_000_000) -> Player:
        node = await self.control.create_node(f"p-{uuid.uuid4().hex[:10]}", balance_sats)
        client = lnd(node)
        self.closers.append(client.aclose)
        return Player(secrets.token_bytes(32).hex(), node, client)

    async def mine(self, blocks: int = 1) -> None:
        await asyncio.to_thread(self.chain.mine, blocks)

    async def step(self, rounds: int = 1) -> None:
        """Run the processor until its runners finish, ``rounds`` times."""
        for _ in range(rounds):
            await self.services.processor.tick()
            await self.services.processor.settle()

    async def eventually(
        self, check: Callable[[], Awaitable[bool]], within: float = 30.0, mine: bool = False
    ) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not await check():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not reached in time")
            if mine:
                await self.mine()
            await self.step()
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()
        self.db.close()


def world_settings(tmp: Path, devnet: Devnet, **competitions: Any) -> Settings:
    env = {
        "COORDINATOR__DB__DATA_FOLDER": str(tmp / "data"),
        "COORDINATOR__COORDINATOR__PRIVATE_KEY_FILE": str(tmp / "key.pem"),
        "COORDINATOR__BITCOIN__STORAGE_FILE": str(tmp / "bitcoin.db"),
        "COORDINATOR__BITCOIN__ESPLORA_URL": devnet.chain.url,
        "COORDINATOR__COORDINATOR__ORACLE_URL": devnet.oracle.url,
    }
    for key, value in competitions.items():
        env[f"COORDINATOR__COMPETITIONS__{key.upper()}"] = str(value)
    return load_settings(Path("config/e2e.toml"), env=env)


def make_signer(devnet: Devnet, keys: CoordinatorKeys, **limits: int) -> KeymeldSigner:
    gateway = REAL_GATEWAY
    config = KeymeldConfig(
        gateway_url=devnet.signer.url,
        limits=SignerLimits(
            max_participants=limits.get("max_participants", gateway.max_participants),
            max_subsets=limits.get("max_subsets", gateway.max_subsets),
            max_items_per_signing_session=limits.get("max_batch_items", gateway.max_batch_items),
            max_signing_sessions=limits.get("max_signing_sessions", gateway.max_signing_sessions),
            max_keygen_timeout_secs=limits.get("max_keygen_timeout_secs", gateway.max_timeout_secs),
        ),
        signing_timeout_secs=120,
        poll=PollPolicy(first_delay_secs=0.05, max_delay_secs=0.5),
    )
    return KeymeldSigner(config, keys, devnet.signer.trust())


async def make_world(
    tmp: Path,
    devnet: Devnet,
    wallet_sats: int = 2_000_000,
    signer_limits: dict[str, int] | None = None,
    **competitions: Any,
) -> World:
    settings = world_settings(tmp, devnet, **competitions)
    path = tmp / "competitions.db"
    migrate("competitions", path)
    db = Database("competitions", path, DbSettings(read_connections=4))
    db.open()
    control = LightningDevnetControl(devnet.lightning.url, LN_TOKEN)
    node = await control.create_node(f"c-{uuid.uuid4().hex[:10]}", 5_000_000)
    lightning = lnd(node)
    chain = EsploraClient(devnet.chain.url, retries=1, backoff_secs=0.05)
    seed = os.urandom(32)
    keys = CoordinatorKeys(seed)
    wallet = BdkWallet(
        secret=keys.wallet_root_secret,
        network="regtest",
        storage_file=tmp / "bitcoin.db",
        esplora_url=devnet.chain.url,
        chain=chain,
    )
    oracle = NoaaOracleClient(
        devnet.oracle.url, keys.identity_secret, retry=RetryPolicy(attempts=2, first_delay_secs=0.1)
    )
    world_ref: list[World] = []
    lc = Lifecycle(
        settings=settings,
        store=SqliteCompetitionStore(db),
        lightning=lightning,
        chain=chain,
        wallet=wallet,
        oracle=oracle,
        signer=(signer := make_signer(devnet, keys, **(signer_limits or {}))),
        keys=keys,
        clock=lambda: world_ref[0].now(),
    )
    world = World(devnet, settings, lc, CompetitionServices(lc), control, node, db)
    world_ref.append(world)
    world.closers += [control.aclose, lightning.aclose, chain.aclose, wallet.close, oracle.aclose]
    world.closers.append(signer.aclose)
    if wallet_sats:
        address = await wallet.new_address()
        await asyncio.to_thread(devnet.chain.faucet, address, wallet_sats)
        await world.mine(1)
        await wallet.full_scan()
    return world


@pytest.fixture
async def world(tmp_path: Path, devnet: Devnet) -> AsyncIterator[World]:
    made = await make_world(tmp_path, devnet)
    yield made
    await made.close()


@dataclass
class Seat:
    """One entry of a player: its ticket and the keys the player made for it."""

    player: Player
    competition_id: uuid.UUID
    ticket_id: uuid.UUID
    entry_id: uuid.UUID
    payment_request: str
    secret: bytes  # ephemeral DLC key
    payout_preimage: bytes

    @property
    def pubkey(self) -> bytes:
        return Point.from_secret(self.secret).to_bytes()

    @property
    def payout_hash(self) -> bytes:
        return hashlib.sha256(self.payout_preimage).digest()


async def take_seat(world: World, player: Player, competition_id: uuid.UUID) -> Seat:
    """Reserve a ticket and register the entry key with the signing gateway (before paying)."""
    lc = world.lc
    ticket = await reserve_ticket(lc, competition_id, player.pubkey)
    assert ticket.payment_request is not None
    seat = Seat(
        player,
        competition_id,
        ticket.id,
        ticket.entry_id,
        ticket.payment_request,
        secrets.token_bytes(32),
        secrets.token_bytes(32),
    )
    slot = await registration_slot(lc, competition_id, ticket.id, player.pubkey, new_challenge())
    sealed = seal_registration(
        SlotOffer.from_json(slot.to_json()), seat.secret, world.devnet.signer.trust()
    )
    await register(
        lc,
        competition_id,
        ticket.id,
        player.pubkey,
        RegistrationRequest(
            sealed.public_key,
            sealed.auth_pubkey,
            sealed.encrypted_envelope,
            sealed.enclave_key_epoch,
        ),
    )
    return seat


async def pay(world: World, seat: Seat) -> None:
    """The player's node pays the hold invoice (it stays in flight until settled)."""
    payment = await seat.player.lightning.send_payment(
        seat.payment_request, amount_msat=None, fee_limit_msat=100_000, timeout_secs=1
    )
    assert payment.status.value in ("in_flight", "succeeded"), payment
    await world.services.invoices.poll()


def picks(station: str, *comparisons: str) -> tuple[StationPicks, ...]:
    metrics = ("temp_high", "temp_low", "wind_speed")
    return (StationPicks(stations=station, **dict(zip(metrics, comparisons, strict=False))),)


async def submit(world: World, seat: Seat, choices: tuple[StationPicks, ...]) -> Entry:
    return await submit_entry(
        world.lc,
        seat.player.pubkey,
        EntryRequest(
            id=seat.entry_id,
            ticket_id=seat.ticket_id,
            event_id=seat.competition_id,
            ephemeral_pubkey=seat.pubkey,
            ephemeral_privatekey_encrypted="backup",
            payout_hash=seat.payout_hash,
            payout_preimage_encrypted="backup",
            expected_observations=choices,
        ),
    )


async def enter(
    world: World, player: Player, competition_id: uuid.UUID, choices: tuple[StationPicks, ...]
) -> Seat:
    seat = await take_seat(world, player, competition_id)
    await pay(world, seat)
    await submit(world, seat, choices)
    return seat


async def state_of(world: World, competition_id: uuid.UUID) -> State:
    c = await world.lc.store.load(competition_id, documents=False)
    assert c is not None
    return c.state


async def run_to(
    world: World,
    competition_id: uuid.UUID,
    state: State,
    within: float = 60.0,
    mine: bool = False,
    allow_cancel: bool = False,
) -> None:
    """Step the processor (mining a block per round if asked) until the competition is in
    ``state``; fails at once if it failed or was cancelled unexpectedly."""

    async def reached() -> bool:
        c = await world.lc.store.load(competition_id, documents=False)
        assert c is not None
        if not allow_cancel:
            assert c.state not in (State.FAILED, State.CANCELLED), (c.state, c.errors)
        return c.state is state

    await world.eventually(reached, within=within, mine=mine)


def weather(terms: CompetitionTerms, high_observed: float, station: str = "KORD") -> dict[str, Any]:
    """Forecast high 70 °F; the observed high decides who was right."""
    start, end = terms.start_observation_date, terms.end_observation_date
    return {
        "forecasts": [
            {"station_id": station, "date": start.date().isoformat(), "temp_low": 50,
             "temp_high": 70, "wind_speed": 10}
        ],
        "observations": [
            {"station_id": station, "start_time": start.isoformat(), "end_time": end.isoformat(),
             "temp_low": 49.0, "temp_high": high_observed, "wind_speed": 10}
        ],
    }  # fmt: skip


def attest(world: World, terms: CompetitionTerms, high_observed: float) -> None:
    response = world.oracle.put_weather(**weather(terms, high_observed))
    assert response.status_code == 200, response.text
    response = world.oracle.attest(terms.id)
    assert response.status_code == 200, response.text


async def stored_tx(world: World, competition_id: uuid.UUID, kind: TxKind, player: int = -1):  # type: ignore[no-untyped-def]
    for tx in await world.lc.store.txs_of(competition_id):
        if tx.kind is kind and tx.player_index == player:
            return tx
    return None


async def confirmed_at(world: World, competition_id: uuid.UUID, kind: TxKind) -> int | None:
    tx = await stored_tx(world, competition_id, kind)
    if tx is None:
        return None
    status = await world.lc.chain.tx_status(tx.txid)
    return status.block_height if status is not None and status.confirmed else None


async def mine_to(world: World, height: int) -> None:
    tip = await world.lc.chain.tip_height()
    if height > tip:
        await world.mine(height - tip)


async def sell_back(world: World, seat: Seat, cltv_expiry: int = 4) -> Payout:
    """The winner asks for its payout over Lightning with an invoice of its node."""
    return await request_payout(
        world.lc,
        world.services.sender,
        seat.player.pubkey,
        seat.competition_id,
        seat.entry_id,
        PayoutRequest(
            seat.ticket_id,
            seat.payout_preimage,
            seat.secret,
            (await payout_invoice(world, seat, cltv_expiry)),
        ),
    )


async def payout_invoice(world: World, seat: Seat, cltv_expiry: int = 4) -> str:
    """An invoice of the winner's node for exactly what it is owed."""
    owed = await owed_amount(world, seat)
    invoice = await seat.player.lightning.create_invoice(
        owed * 1000, 7200, "payout", cltv_expiry=cltv_expiry
    )
    return invoice.payment_request


async def owed_amount(world: World, seat: Seat) -> int:
    c = await world.lc.store.load(seat.competition_id)
    assert c is not None and c.settled_outcome is not None and c.contract_parameters is not None
    params = params_from_json(c.contract_parameters)
    outcome = Outcome.parse(c.settled_outcome)
    entries = sorted(await world.lc.store.entries_of(c.id), key=lambda e: e.id.int)
    index = [e.id for e in entries].index(seat.entry_id)
    return payout_amount(
        params.funding_value, params.outcome_payouts[outcome], index, len(params.players)
    )


async def create(world: World, terms: CompetitionTerms) -> Competition:
    return await create_competition(world.lc, terms)
