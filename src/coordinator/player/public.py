"""Public facts a player checks the coordinator against: the oracle's event and key, the chain.

The oracle is read directly over its public API (``coordinator_core.oracle_api`` shapes), never
through the coordinator, so the locking points, entry ids and attestation the player relies on
come from the party that signs them.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from coordinator.player.verify import ExpectedTerms
from coordinator_core.errors import NotFoundError, TransientError, ValidationError
from coordinator_core.http_body import read_bounded
from coordinator_core.oracle_api import Event, KeyResponse
from ticketdlc.contract import ContractSignatures
from ticketdlc.contract.jsoncodec import json_object, params_from_json
from ticketdlc.contract.types import ContractParameters
from ticketdlc.crypto.secp import Point

MAX_EVENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class OracleFacts:
    """What the oracle published about one event."""

    pubkey: Point
    event: Event

    @property
    def nonce_point(self) -> Point | None:
        return (
            None
            if self.event.nonce_point is None
            else Point.from_bytes(bytes.fromhex(self.event.nonce_point))
        )

    @property
    def attestation(self) -> int | None:
        raw = self.event.attestation
        return None if raw is None else int(raw, 16)


async def _get(http: httpx.AsyncClient, url: str) -> bytes:
    try:
        async with http.stream("GET", url) as response:
            body = await read_bounded(response, MAX_EVENT_BYTES, f"GET {url}")
            status = response.status_code
    except httpx.HTTPError as exc:
        raise TransientError(f"GET {url}: {exc}") from exc
    if status == 404:
        raise NotFoundError(f"GET {url}: not found")
    if status >= 400:
        raise TransientError(f"GET {url}: HTTP {status}")
    return body


async def oracle_facts(oracle_url: str, event_id: uuid.UUID) -> OracleFacts:
    """The oracle's public key and its event ``event_id``."""
    base = oracle_url.rstrip("/")
    async with httpx.AsyncClient(timeout=30.0, trust_env=False) as http:
        key = KeyResponse.model_validate_json(await _get(http, f"{base}/oracle/pubkey"))
        event = Event.model_validate_json(await _get(http, f"{base}/oracle/events/{event_id}"))
    try:
        pubkey = Point.from_bytes(base64.b64decode(key.key, validate=True))
    except ValueError as exc:
        raise ValidationError(f"the oracle's public key is malformed: {exc}") from None
    return OracleFacts(pubkey, event)


@dataclass(frozen=True)
class PublishedContract:
    """A competition's contract as the coordinator publishes it (not yet trusted)."""

    params: ContractParameters
    funding_outpoint: str
    signatures: ContractSignatures | None
    signed_json: dict[str, Any] | None


def published_contract(competition: dict[str, Any]) -> PublishedContract:
    """The contract in a competition's JSON: ``signed_contract`` (``{"signatures", "dlc"}``),
    else ``contract_parameters`` with ``funding_outpoint`` (not signed yet)."""
    signed = competition.get("signed_contract")
    if isinstance(signed, dict):
        obj = json_object(signed, "signed contract", ("signatures", "dlc"))
        dlc = json_object(obj["dlc"], "dlc", ("params", "funding_outpoint"))
        return PublishedContract(
            params_from_json(dlc["params"]),
            str(dlc["funding_outpoint"]),
            ContractSignatures.from_json(obj["signatures"]),
            signed,
        )
    params = competition.get("contract_parameters")
    outpoint = competition.get("funding_outpoint")
    if params is None or outpoint is None:
        raise NotFoundError("the competition has no contract yet")
    return PublishedContract(params_from_json(params), str(outpoint), None, None)


def expected_terms(competition: dict[str, Any], oracle: OracleFacts | None) -> ExpectedTerms:
    """What the competition's own terms (and the oracle's event) say the contract must be."""
    terms = competition.get("event_submission") or competition
    try:
        entries = int(terms["total_allowed_entries"])
        places = int(terms["number_of_places_win"])
        pool = int(terms["total_competition_pool"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"the competition's terms lack {exc}") from None
    delta = terms.get("relative_locktime_block_delta")
    if oracle is None:
        return ExpectedTerms(entries, places, pool, delta)
    return ExpectedTerms(
        entries,
        places,
        pool,
        delta,
        entry_ids=list(oracle.event.entry_ids) or None,
        oracle_pubkey=oracle.pubkey,
        nonce_point=oracle.nonce_point,
        expiry=oracle.event.event_announcement.expiry,
    )
