"""Fixtures of the signing-gateway tests: a devnet gateway, a coordinator's signer against it,
competitions with real player keys, and checkpoints stored in SQLite as the lifecycle does."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from coordinator.adapters.signer.keymeld import KeymeldConfig, KeymeldSigner, PollPolicy
from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.signer import (
    KeygenRequest,
    KeygenResult,
    ParticipantRegistration,
    SignerLimits,
    SignerSession,
)
from coordinator_core.ids import uuid7
from coordinator_core.keymeld.attestation import EnclaveTrust, new_challenge
from coordinator_core.keymeld.limits import REAL_GATEWAY, GatewayLimits
from coordinator_core.keymeld.registration import SealedRegistration, SlotOffer, seal_registration
from tests.conftest import free_port
from tests.support.signer import SignerHandle, running_signer
from ticketdlc.bitcoin.tx import OutPoint
from ticketdlc.competition import Announcement, OutcomeSpace
from ticketdlc.contract import (
    CompetitionEntry,
    ContractParameters,
    TicketedDLC,
    competition_contract_parameters,
)
from ticketdlc.crypto.secp import Point

FUNDING = OutPoint(bytes.fromhex("22" * 32), 1)


def limits_of(limits: GatewayLimits) -> SignerLimits:
    return SignerLimits(
        max_participants=limits.max_participants,
        max_subsets=limits.max_subsets,
        max_items_per_signing_session=limits.max_batch_items,
        max_signing_sessions=limits.max_signing_sessions,
        max_keygen_timeout_secs=limits.max_timeout_secs,
    )


class CheckpointStore:
    """Signer sessions persisted in SQLite, one row per competition (what the lifecycle does)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS signer_sessions"
            " (competition_id TEXT PRIMARY KEY, state TEXT)"
        )
        self.writes = 0

    async def checkpoint(self, session: SignerSession) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO signer_sessions VALUES (?, ?)",
            (session.competition_id, json.dumps(dict(session.state))),
        )
        self.db.commit()
        self.writes += 1

    def load(self, competition_id: str) -> SignerSession:
        (state,) = self.db.execute(
            "SELECT state FROM signer_sessions WHERE competition_id = ?", (competition_id,)
        ).fetchone()
        return SignerSession(competition_id, json.loads(state))

    def close(self) -> None:
        self.db.close()


@dataclass
class Competition:
    """A competition: its tickets, player keys and oracle (locking points)."""

    competition_id: str
    players: int
    places: int
    ticket_ids: list[str]
    player_secrets: list[bytes]
    mm_secret: bytes
    oracle_secret: int = 0x5151
    nonce_secret: int = 0x5252

    @property
    def space(self) -> OutcomeSpace:
        return OutcomeSpace(self.players, self.places)

    def winner_sets(self) -> list[frozenset[int]]:
        """One winner set per outcome: rankings, refund-all and expiry."""
        space = self.space
        sets = [
            frozenset(range(self.players)) if i == space.refund_index else frozenset(ranking)
            for i, ranking in enumerate(space.rankings())
        ]
        return [*sets, frozenset(range(self.players))]

    def keygen_request(self, timeout_secs: int = 600) -> KeygenRequest:
        return KeygenRequest(
            self.competition_id, self.ticket_ids, self.winner_sets(), self.mm_secret, timeout_secs
        )

    def params(self, expiry: int = 800_000, delta: int = 6) -> ContractParameters:
        announcement = Announcement.derive(
            self.space, Point.from_secret(self.oracle_secret), Point.from_secret(self.nonce_secret)
        )
        entries = [
            CompetitionEntry(
                uuid.UUID(tid),
                Point.from_secret(sk),
                hashlib.sha256(self.ticket_preimage(i)).digest(),
                hashlib.sha256(b"payout %d" % i).digest(),
            )
            for i, (tid, sk) in enumerate(zip(self.ticket_ids, self.player_secrets, strict=True))
        ]
        return competition_contract_parameters(
            entries,
            announcement,
            expiry,
            self.places,
            Point.from_secret(self.mm_secret),
            funding_value=self.players * 50_000,
            fee_rate=1_000,
            relative_locktime_block_delta=delta,
        )

    def ticket_preimage(self, i: int) -> bytes:
        return hashlib.sha256(b"ticket %d " % i + self.competition_id.encode()).digest()

    def dlc(self, funding: OutPoint = FUNDING, **kwargs: int) -> TicketedDLC:
        return TicketedDLC.new(self.params(**kwargs), funding)


def new_competition(keys: CoordinatorKeys, players: int, places: int) -> Competition:
    competition_id = str(uuid7())
    return Competition(
        competition_id,
        players,
        places,
        [str(uuid7()) for _ in range(players)],
        [hashlib.sha256(os.urandom(32)).digest() for _ in range(players)],
        keys.market_maker_secret(competition_id),
    )


def seal_for(
    slot_json: dict[str, object], secret: bytes, trust: EnclaveTrust
) -> SealedRegistration:
    """The player's device: verify the enclave, seal the key (coordinator_core.keymeld)."""
    return seal_registration(SlotOffer.from_json(slot_json), secret, trust)


def registration_of(sealed: SealedRegistration) -> ParticipantRegistration:
    return ParticipantRegistration(
        sealed.user_id,
        sealed.public_key,
        sealed.auth_pubkey,
        sealed.encrypted_envelope,
        sealed.enclave_key_epoch,
    )


async def register_players(
    signer: KeymeldSigner,
    session: SignerSession,
    competition: Competition,
    store: CheckpointStore,
    trust: EnclaveTrust,
    which: slice = slice(None),
) -> SignerSession:
    players = list(zip(competition.ticket_ids, competition.player_secrets, strict=True))
    for ticket_id, secret in players[which]:
        slot = await signer.registration_slot(session, ticket_id, new_challenge())
        sealed = seal_for(slot.to_json(), secret, trust)
        session = await signer.register_participant(
            session, registration_of(sealed), store.checkpoint
        )
    return session


async def wait_keygen(signer: KeymeldSigner, session: SignerSession) -> KeygenResult:
    async with asyncio.timeout(30):
        while True:
            result = await signer.keygen_result(session)
            if result is not None:
                return result
            await asyncio.sleep(0.1)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignerHandle]:
    """One devnet gateway shared by the signer tests (compare its counters as deltas)."""
    with running_signer(tmp_path_factory.mktemp("signer"), free_port()) as handle:
        yield handle


@pytest.fixture
def own_gateway(tmp_path: Path) -> Iterator[SignerHandle]:
    """A gateway of the test's own, for tests that restart it."""
    with running_signer(tmp_path / "signer", free_port()) as handle:
        yield handle


@pytest.fixture
def keys() -> CoordinatorKeys:
    return CoordinatorKeys(os.urandom(32))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CheckpointStore]:
    checkpoints = CheckpointStore(tmp_path / "competitions.db")
    yield checkpoints
    checkpoints.close()


def make_signer(
    gateway: SignerHandle, keys: CoordinatorKeys, limits: GatewayLimits = REAL_GATEWAY
) -> KeymeldSigner:
    config = KeymeldConfig(
        gateway_url=gateway.url,
        limits=limits_of(limits),
        signing_timeout_secs=120,
        poll=PollPolicy(first_delay_secs=0.05, max_delay_secs=0.5),
    )
    return KeymeldSigner(config, keys, gateway.trust())


# The lifecycle's devnet (session scope) and a coordinator on it, for tests through the lifecycle.
from tests.lifecycle.world import devnet, world  # noqa: E402, F401
