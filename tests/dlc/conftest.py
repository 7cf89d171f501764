"""Fixtures of the ticketed DLC tests: the dlctix compat vector and small contracts with keys."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ticketdlc.bitcoin.tx import OutPoint
from ticketdlc.competition import Announcement, OutcomeSpace
from ticketdlc.contract import (
    AnchorParams,
    CompetitionEntry,
    ContractLayout,
    ContractParameters,
    EventLockingConditions,
    MarketMaker,
    Outcome,
    Player,
    TicketedDLC,
    competition_contract_parameters,
)
from ticketdlc.contract.jsoncodec import params_from_json
from ticketdlc.crypto.secp import Point


def secret(i: int) -> bytes:
    """A deterministic secret key."""
    return hashlib.sha256(b"dlc test key %d" % i).digest()


def preimage(kind: str, i: int) -> bytes:
    """A deterministic 32-byte preimage."""
    return hashlib.sha256(f"{kind} preimage {i}".encode()).digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass
class Party:
    """Keys and preimages of a test contract (index 0 is the market maker)."""

    mm_secret: bytes
    player_secrets: list[bytes]
    tickets: list[bytes]
    payouts: list[bytes]

    @property
    def all_secrets(self) -> list[bytes]:
        return [self.mm_secret, *self.player_secrets]

    def player_pubkey(self, i: int) -> bytes:
        return Point.from_secret(self.player_secrets[i]).to_bytes()


def make_party(players: int, offset: int = 0) -> Party:
    return Party(
        secret(offset),
        [secret(offset + 1 + i) for i in range(players)],
        [preimage("ticket", offset + i) for i in range(players)],
        [preimage("payout", offset + i) for i in range(players)],
    )


def make_params(
    party: Party,
    payouts: dict[Outcome, dict[int, int]],
    locking_points: list[Point],
    *,
    expiry: int | None = 800_000,
    fee_rate: int = 2500,
    funding_value: int = 300_000,
    delta: int = 25,
    layout: ContractLayout = ContractLayout.OUTCOME_BOUND,
) -> ContractParameters:
    players = tuple(
        Player(Point.from_secret(sk), sha256(t), sha256(p))
        for sk, t, p in zip(party.player_secrets, party.tickets, party.payouts, strict=True)
    )
    return ContractParameters(
        MarketMaker(Point.from_secret(party.mm_secret)),
        players,
        EventLockingConditions(tuple(locking_points), expiry),
        payouts,
        fee_rate,
        funding_value,
        delta,
        layout is ContractLayout.OUTCOME_BOUND,
    )


FUNDING = OutPoint(bytes.fromhex("11" * 32), 0)


@dataclass
class Competition:
    """A small competition contract with its oracle secrets."""

    party: Party
    space: OutcomeSpace
    oracle_secret: int
    nonce_secret: int
    params: ContractParameters
    dlc: TicketedDLC
    entry_ids: list[uuid.UUID]


def competition_entries(party: Party, ids: list[uuid.UUID]) -> list[CompetitionEntry]:
    """Entry ``ids[i]`` holds the keys, ticket and payout hash of the party's player ``i``."""
    return [
        CompetitionEntry(
            entry_id,
            Point.from_secret(party.player_secrets[i]),
            sha256(party.tickets[i]),
            sha256(party.payouts[i]),
        )
        for i, entry_id in enumerate(ids)
    ]


def make_competition(
    entries: int,
    places: int,
    layout: ContractLayout = ContractLayout.OUTCOME_BOUND,
    *,
    anchor: AnchorParams | None = None,
    expiry: int = 800_000,
) -> Competition:
    party = make_party(entries)
    oracle_secret, nonce_secret = 0x1111, 0x2222
    space = OutcomeSpace(entries, places)
    announcement = Announcement.derive(
        space, Point.from_secret(oracle_secret), Point.from_secret(nonce_secret)
    )
    ids = [uuid.UUID(int=(7 << 76) | (i * 7919 % 1000)) for i in range(entries)]
    entries_by_player = competition_entries(party, ids)
    # Player i of the contract is the i-th entry by id; reorder the party to match.
    order = sorted(range(entries), key=lambda i: ids[i].int)
    party = Party(
        party.mm_secret,
        [party.player_secrets[i] for i in order],
        [party.tickets[i] for i in order],
        [party.payouts[i] for i in order],
    )
    params = competition_contract_parameters(
        reversed(entries_by_player),
        announcement,
        expiry,
        places,
        Point.from_secret(party.mm_secret),
        funding_value=entries * 50_000,
        fee_rate=2500,
        relative_locktime_block_delta=6,
        layout=layout,
        anchor=anchor,
    )
    dlc = TicketedDLC.rebuild(params, FUNDING)
    return Competition(
        party, space, oracle_secret, nonce_secret, params, dlc, sorted(ids, key=lambda u: u.int)
    )


@pytest.fixture(scope="session")
def compat(vectors_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors_dir / "dlctix" / "compat.json").read_text())
    return data


@pytest.fixture(scope="session")
def compat_dlc(compat: dict[str, Any]) -> TicketedDLC:
    params = params_from_json(compat["params"])
    outpoint = OutPoint(
        bytes.fromhex(compat["funding_outpoint"]["txid_internal_hex"]),
        compat["funding_outpoint"]["vout"],
    )
    return TicketedDLC.new(params, outpoint)


COMPAT_SECRETS = [i.to_bytes(32, "big") for i in (12, 10, 11, 13)]
"""Market maker 12G, players 10G, 11G, 13G."""
