"""The headless player: what the browser does, as an importable client.

A :class:`Player` is one nostr identity (its seed file) talking to one coordinator. It keeps a
small state file (mode 0600) of its tickets: ids, invoice, payment hash and, once the hold
invoice settled, the ticket preimage. Entry keys and payout preimages are never stored; they are
derived from the seed and the entry id whenever needed (``coordinator_core.entry_keys``).

Flow of one entry: :meth:`Player.reserve` → (:meth:`Player.register` with the signing gateway)
→ :meth:`Player.pay` (from the player's LND node) or print the invoice → :meth:`Player.
wait_for_ticket` → :meth:`Player.submit_entry`. After the oracle attested: :meth:`Player.
request_payout` (Lightning sellback) or :meth:`Player.claim` (on chain), and at any time after
signing :meth:`Player.verify_contract`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from coordinator.adapters.lightning import LndRestClient
from coordinator.player.api import CoordinatorApi, Ticket
from coordinator.player.claim import Claimant, ClaimProgress, claim_step
from coordinator.player.identity import PlayerIdentity, read_private_file
from coordinator.player.public import expected_terms, oracle_facts, published_contract
from coordinator.player.verify import PayoutReport, verify_payout_paths
from coordinator_core.bolt11 import check_invoice, decode_invoice
from coordinator_core.entry_keys import EntryKeys
from coordinator_core.errors import ConfigError, ValidationError
from coordinator_core.keymeld.attestation import EnclaveTrust, new_challenge
from coordinator_core.keymeld.registration import seal_registration
from coordinator_core.nip44 import encrypt_to_self
from coordinator_core.observations import StationPicks
from coordinator_core.private_file import write_private
from ticketdlc.bitcoin.tx import Transaction
from ticketdlc.contract import Outcome, SignedContract

MAX_STATE_BYTES = 8 * 1024 * 1024
MAX_CONTRACT_BYTES = 256 * 1024 * 1024
PAYOUT_INVOICE_SECS = 600
PAYOUT_FINAL_CLTV = 3  # blocks; payouts must resolve before the on-chain claim opens
PAID_STATUSES = frozenset({"Paid", "Settled", "Used"})
DEAD_STATUSES = frozenset({"Expired", "Cancelled", "Canceled"})


@dataclass
class EntryRecord:
    """What the player remembers of one ticket and its entry."""

    competition_id: str
    ticket_id: str
    entry_id: str
    payment_hash: str
    payment_request: str
    amount_sats: int
    invoice_expires_at: str | None = None
    gateway: str | None = None  # the signing gateway named by the ticket, if any
    submitted: bool = False
    ticket_preimage: str | None = None  # learned when the hold invoice settled
    payout_requested: bool = False

    @property
    def entry_uuid(self) -> uuid.UUID:
        return uuid.UUID(self.entry_id)

    @property
    def competition_uuid(self) -> uuid.UUID:
        return uuid.UUID(self.competition_id)

    @property
    def ticket_uuid(self) -> uuid.UUID:
        return uuid.UUID(self.ticket_id)


@dataclass
class PlayerState:
    """The state file: every ticket the player holds, by entry id."""

    path: Path | None
    entries: dict[str, EntryRecord] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> PlayerState:
        """Read ``path`` (a missing file is an empty state); ``None`` keeps state in memory."""
        if path is None or not path.exists():
            return cls(path)
        try:
            data = json.loads(read_private_file(path, MAX_STATE_BYTES))
            entries = {key: EntryRecord(**value) for key, value in data["entries"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"invalid player state file {path}: {exc}") from None
        return cls(path, entries)

    def save(self) -> None:
        if self.path is None:
            return
        data = {"entries": {key: asdict(value) for key, value in self.entries.items()}}
        write_private(self.path, json.dumps(data, indent=2).encode() + b"\n")

    def put(self, record: EntryRecord) -> None:
        self.entries[record.entry_id] = record
        self.save()

    def contract_file(self, competition_id: str) -> Path | None:
        """Where the signed contract of a competition is kept (next to the state file)."""
        if self.path is None:
            return None
        return self.path.parent / f"{self.path.stem}.contracts" / f"{competition_id}.json"

    def save_contract(self, competition_id: str, signed_json: dict[str, Any]) -> None:
        path = self.contract_file(competition_id)
        if path is not None:
            write_private(path, json.dumps(signed_json).encode())

    def saved_contract(self, competition_id: str) -> dict[str, Any] | None:
        path = self.contract_file(competition_id)
        if path is None or not path.exists():
            return None
        data = json.loads(read_private_file(path, MAX_CONTRACT_BYTES))
        if not isinstance(data, dict):
            raise ConfigError(f"{path} is not a signed contract")
        return data

    def find(self, entry_id: uuid.UUID | str) -> EntryRecord:
        record = self.entries.get(str(entry_id))
        if record is None:
            raise ValidationError(f"no ticket of entry {entry_id} in the player state")
        return record


class Player:
    """One player of one coordinator."""

    def __init__(
        self,
        identity: PlayerIdentity,
        api: CoordinatorApi,
        state: PlayerState | None = None,
        lightning: LndRestClient | None = None,
        enclave_trust: EnclaveTrust | None = None,
    ) -> None:
        self.identity = identity
        self.enclave_trust = enclave_trust
        self.api = api
        self.state = state or PlayerState(None)
        self.lightning = lightning  # the player's own LND node, to pay and to learn preimages

    def keys(self, record: EntryRecord) -> EntryKeys:
        return self.identity.entry_keys(record.entry_uuid)

    # -- entering -----------------------------------------------------------------------------

    async def reserve(self, competition_id: uuid.UUID) -> EntryRecord:
        """Reserve a ticket; checks the invoice pays the ticket's hash on our network."""
        ticket = await self.api.reserve_ticket(competition_id)
        self._check_invoice(ticket)
        record = EntryRecord(
            str(competition_id),
            str(ticket.ticket_id),
            str(ticket.entry_id),
            ticket.payment_hash.hex(),
            ticket.payment_request,
            ticket.amount_sats,
            ticket.invoice_expires_at,
            ticket.raw.get("keymeld_gateway_url") or None,
        )
        known = self.state.entries.get(record.entry_id)
        if known is not None and known.ticket_preimage is not None:
            record.ticket_preimage = known.ticket_preimage
        self.state.put(record)
        return record

    def _check_invoice(self, ticket: Ticket) -> None:
        decoded = decode_invoice(ticket.payment_request)
        check_invoice(
            decoded,
            network=self.identity.network,
            amount_msat=ticket.amount_sats * 1000,
            now=time.time(),
        )
        if decoded.payment_hash != ticket.payment_hash:
            raise ValidationError("the ticket's invoice pays another hash than the ticket's")

    async def register(self, record: EntryRecord) -> bool:
        """Seal the entry key to the signing gateway's enclave for this ticket's slot.

        The enclave's attestation is fetched with a fresh challenge of ours and verified (PCR
        policy and trust root of :attr:`enclave_trust`) before anything is encrypted to it.
        Returns False when the ticket names no signing gateway.
        """
        if not record.gateway:
            return False
        if self.enclave_trust is None:
            raise ConfigError(
                "the coordinator signs through a signing gateway: configure the enclave "
                "attestation policy (PCR pins and trust root) to register with it"
            )
        challenge = new_challenge()
        offer = await self.api.registration_slot(
            record.competition_uuid, record.ticket_uuid, challenge
        )
        if offer.attestation_nonce != challenge:
            raise ValidationError("the enclave attestation does not answer our challenge")
        if offer.user_id != record.ticket_id:
            raise ValidationError("the registration slot belongs to another ticket")
        sealed = seal_registration(offer, self.keys(record).secret, self.enclave_trust)
        await self.api.register(record.competition_uuid, record.ticket_uuid, sealed)
        return True

    async def pay(self, record: EntryRecord, timeout_secs: int = 5) -> str:
        """Pay the hold invoice from the player's LND node; returns the payment status.

        A hold invoice stays IN_FLIGHT until the coordinator settles it (at funding), so the
        status right after paying is normally IN_FLIGHT.
        """
        if self.lightning is None:
            raise ConfigError("no Lightning node configured to pay from")
        payment = await self.lightning.send_payment(
            record.payment_request,
            amount_msat=None,
            fee_limit_msat=max(10_000, record.amount_sats * 10),  # 1 %, at least 10 sats
            timeout_secs=timeout_secs,
        )
        return str(payment.status)

    async def wait_for_ticket(
        self, record: EntryRecord, timeout_secs: float = 60.0, interval_secs: float = 0.5
    ) -> str:
        """Poll the ticket status until it is paid; raises if it expired or time runs out."""
        deadline = time.monotonic() + timeout_secs
        while True:
            status = await self.api.ticket_status(record.competition_uuid, record.ticket_uuid)
            if status in PAID_STATUSES:
                return status
            if status in DEAD_STATUSES:
                raise ValidationError(f"ticket {record.ticket_id} is {status}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"ticket {record.ticket_id} still {status}")
            await asyncio.sleep(interval_secs)

    def entry_body(self, record: EntryRecord, picks: Sequence[StationPicks]) -> dict[str, Any]:
        """The ``POST /api/v1/entries`` body (AddEntry) for this ticket."""
        keys = self.keys(record)
        secret = self.identity.nostr_secret
        return {
            "id": record.entry_id,
            "ticket_id": record.ticket_id,
            "event_id": record.competition_id,
            "ephemeral_pubkey": keys.pubkey_hex,
            # NIP-44 to self: another device with the same nostr key can read them back (they
            # also derive from the wallet seed and the entry id).
            "ephemeral_privatekey_encrypted": encrypt_to_self(secret, keys.secret.hex()),
            "payout_hash": keys.payout_hash.hex(),
            "payout_preimage_encrypted": encrypt_to_self(secret, keys.payout_preimage.hex()),
            "expected_observations": [p.model_dump(mode="json", exclude_none=True) for p in picks],
        }

    async def submit_entry(
        self, record: EntryRecord, picks: Sequence[StationPicks]
    ) -> dict[str, Any]:
        entry = await self.api.submit_entry(self.entry_body(record, picks))
        record.submitted = True
        self.state.put(record)
        return entry

    # -- after kickoff ------------------------------------------------------------------------

    async def learn_ticket_preimage(self, record: EntryRecord) -> bytes | None:
        """The ticket preimage from the player's LND payment, once the hold invoice settled."""
        if record.ticket_preimage is not None:
            return bytes.fromhex(record.ticket_preimage)
        if self.lightning is None:
            return None
        payment = await self.lightning.track_payment(bytes.fromhex(record.payment_hash))
        preimage: bytes | None = payment.preimage
        if preimage is None:
            return None
        if hashlib.sha256(preimage).hexdigest() != record.payment_hash:
            raise ValidationError("the node's payment preimage does not match the ticket hash")
        record.ticket_preimage = preimage.hex()
        self.state.put(record)
        return preimage

    def set_ticket_preimage(self, record: EntryRecord, preimage: bytes) -> None:
        """Record a ticket preimage learned elsewhere (e.g. from another wallet)."""
        if hashlib.sha256(preimage).hexdigest() != record.payment_hash:
            raise ValidationError("the preimage does not match the ticket's payment hash")
        record.ticket_preimage = preimage.hex()
        self.state.put(record)

    def payout_body(self, record: EntryRecord, ln_invoice: str) -> dict[str, Any]:
        """The ``POST …/payout`` body: the sellback reveals the payout preimage and entry key."""
        keys = self.keys(record)
        return {
            "ticket_id": record.ticket_id,
            "payout_preimage": keys.payout_preimage.hex(),
            "ephemeral_private_key": keys.secret.hex(),
            "ln_invoice": ln_invoice,
        }

    # -- the contract: verify, keep, claim ---------------------------------------------------

    async def verify_contract(
        self,
        record: EntryRecord,
        oracle_url: str | None = None,
        chain: Any = None,
    ) -> PayoutReport:
        """Check this entry's payout paths in the published contract (see ``verify``).

        With ``oracle_url`` the locking points, expiry and entry order are checked against the
        oracle's own event; with ``chain`` (an Esplora client) the funding transaction too. A
        contract whose checks all pass is kept next to the state file for :meth:`claim`.
        """
        competition = await self.api.competition(record.competition_uuid)
        published = published_contract(competition)
        oracle = None
        if oracle_url is not None:
            oracle = await oracle_facts(oracle_url, record.competition_uuid)
        funding_tx = None
        if chain is not None:
            raw = await chain.raw_transaction(published.funding_outpoint.split(":")[0])
            funding_tx = None if raw is None else Transaction.parse(raw)
        keys = self.keys(record)
        report = verify_payout_paths(
            published.params,
            published.funding_outpoint,
            published.signatures,
            entry_id=record.entry_uuid,
            entry_pubkey=keys.pubkey,
            ticket_hash=bytes.fromhex(record.payment_hash),
            payout_hash=keys.payout_hash,
            expected=expected_terms(competition, oracle),
            funding_tx=funding_tx,
        )
        if chain is not None and funding_tx is None:
            report.add("funding transaction", False, "not found on chain")
        if report.ok and published.signed_json is not None:
            self.state.save_contract(record.competition_id, published.signed_json)
        return report

    async def signed_contract(self, record: EntryRecord) -> SignedContract:
        """The signed contract (the kept copy, else the coordinator's), with every signature
        this player relies on verified."""
        signed_json = self.state.saved_contract(record.competition_id)
        if signed_json is None:
            competition = await self.api.competition(record.competition_uuid)
            signed_json = published_contract(competition).signed_json
            if signed_json is None:
                raise ValidationError("the competition's contract is not signed yet")
        return SignedContract.from_json(signed_json, self.keys(record).pubkey)

    async def claim(
        self,
        record: EntryRecord,
        chain: Any,
        destination_script: bytes,
        fee_rate_sat_vb: int,
        attestation: int | None = None,
    ) -> ClaimProgress:
        """Take the next step of this entry's on-chain claim (see ``claim``)."""
        signed = await self.signed_contract(record)
        preimage = await self.learn_ticket_preimage(record)
        if preimage is None:
            raise ValidationError(
                "the ticket preimage is unknown: the hold invoice has not settled yet"
            )
        index = signed.params.player_index(self.keys(record).pubkey)
        if index is None:
            raise ValidationError("this entry is not a player of the contract")
        claimant = Claimant(
            index, self.keys(record).secret, preimage, destination_script, fee_rate_sat_vb
        )
        return await claim_step(chain, signed, claimant, attestation)

    async def owed_sats(self, record: EntryRecord) -> int:
        """What this entry is owed over Lightning for the settled outcome (0 if nothing).

        The outcome is the coordinator's ``settled_outcome``, checked against the oracle's
        attestation for an attested one. Ranked outcomes pay ``floor(pool × weight / Σ
        weights)``; outcomes paying every player (refund-all, expiry) pay ``floor(pool / n)``.
        """
        competition = await self.api.competition(record.competition_uuid)
        settled = competition.get("settled_outcome")
        if not isinstance(settled, str):
            raise ValidationError("the competition has no settled outcome yet")
        signed = await self.signed_contract(record)
        outcome = Outcome.parse(settled)
        if not outcome.is_expiry:
            attestation = competition.get("attestation")
            if not isinstance(attestation, str):
                raise ValidationError("the settled outcome has no attestation")
            if signed.outcome_of_attestation(int(attestation, 16)) != outcome:
                raise ValidationError("the attestation does not unlock the settled outcome")
        params = signed.params
        index = params.player_index(self.keys(record).pubkey)
        weights = params.outcome_payouts.get(outcome, {})
        if index is None or index not in weights:
            return 0
        if len(weights) == len(params.players):
            return params.funding_value // len(params.players)
        return params.funding_value * weights[index] // sum(weights.values())

    async def invoice_and_request_payout(self, record: EntryRecord) -> Any:
        """Invoice the player's own node for what it is owed, and ask to be paid."""
        if self.lightning is None:
            raise ConfigError("no Lightning node configured to receive the payout")
        amount = await self.owed_sats(record)
        if amount <= 0:
            raise ValidationError("this entry is owed nothing in the settled outcome")
        invoice = await self.lightning.create_invoice(
            amount * 1000, PAYOUT_INVOICE_SECS, f"payout {record.entry_id}",
            **_small_final_cltv(self.lightning),
        )  # fmt: skip
        return await self.request_payout(record, invoice.payment_request)

    async def request_payout(self, record: EntryRecord, ln_invoice: str) -> Any:
        answer = await self.api.request_payout(
            record.competition_uuid, record.entry_uuid, self.payout_body(record, ln_invoice)
        )
        record.payout_requested = True
        self.state.put(record)
        return answer


def _small_final_cltv(node: LndRestClient) -> dict[str, int]:
    """A payout has to resolve within the contract's window: ask for a short final CLTV delta
    when the node's client supports choosing one."""
    import inspect

    if "cltv_expiry" in inspect.signature(node.create_invoice).parameters:
        return {"cltv_expiry": PAYOUT_FINAL_CLTV}
    return {}


def parse_picks(specs: Sequence[str]) -> list[StationPicks]:
    """``["KORD:temp_high=Over,temp_low=Par", …]`` → the entry's picks, one item per station."""
    picks: list[StationPicks] = []
    for spec in specs:
        station, sep, rest = spec.partition(":")
        if not sep or not rest:
            raise ValidationError(f"a pick is STATION:metric=Over|Par|Under[,…], got {spec!r}")
        values: dict[str, str] = {"stations": station.strip().upper()}
        for item in rest.split(","):
            metric, eq, value = item.partition("=")
            if not eq:
                raise ValidationError(f"a pick is metric=Over|Par|Under, got {item!r}")
            values[metric.strip()] = value.strip().capitalize()
        try:
            picks.append(StationPicks.model_validate(values))
        except ValueError as exc:
            raise ValidationError(f"invalid pick {spec!r}: {exc}") from None
    return picks
