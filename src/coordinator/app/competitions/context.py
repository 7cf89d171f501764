"""Everything the lifecycle's services share: the ports, the keys, the settings and a clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from coordinator.config import Settings
from coordinator.domain.competitions.payouts import PayoutRules
from coordinator.domain.competitions.records import SettlementTx
from coordinator.domain.competitions.terms import CreationLimits
from coordinator.domain.competitions.transitions import Timeouts
from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.chain import ChainSource
from coordinator.domain.ports.competitions import CompetitionStore
from coordinator.domain.ports.lightning import LightningNode
from coordinator.domain.ports.oracle import OraclePort
from coordinator.domain.ports.signer import Signer
from coordinator.domain.ports.wallet import Wallet
from coordinator_core.errors import TransientError
from coordinator_core.sealing import seal, unseal
from ticketdlc.typed_bytes import SecretKey

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FeeBumping(Protocol):
    """Fee bumping of the settlement transactions (see ``fee_bumping.FeeBumper``); every call
    runs under the competition's lock."""

    async def watch(self, competition_id: uuid.UUID) -> None:
        """Look at the competition's unconfirmed anchored transactions; bump what needs it."""
        ...

    async def rescue(self, tx: SettlementTx, reason: str) -> bool:
        """The chain refused stored ``tx`` for ``reason``: if that is its fee rate, send it
        with a child as a package. True if the chain holds it now."""
        ...


@dataclass
class Lifecycle:
    """The ports and configuration of the competition lifecycle."""

    settings: Settings
    store: CompetitionStore
    lightning: LightningNode
    chain: ChainSource
    wallet: Wallet
    oracle: OraclePort
    signer: Signer | None
    keys: CoordinatorKeys
    clock: Clock = utc_now
    fee_bumper: FeeBumping | None = None  # set when ``[cpfp] enabled``
    _locks: dict[uuid.UUID, asyncio.Lock] = field(default_factory=dict, repr=False)

    @property
    def competitions(self):  # type: ignore[no-untyped-def]
        return self.settings.competitions

    @property
    def required_signer(self) -> Signer:
        if self.signer is None:
            raise TransientError("no signing service is configured")
        return self.signer

    def lock(self, competition_id: uuid.UUID) -> asyncio.Lock:
        """The lock serializing a competition's steps within this process."""
        found = self._locks.get(competition_id)
        if found is None:
            found = self._locks[competition_id] = asyncio.Lock()
        return found

    @property
    def creation_limits(self) -> CreationLimits:
        c = self.settings.competitions
        return CreationLimits(
            max_entries=c.max_entries,
            max_places=c.max_places,
            max_outcomes=c.max_outcomes,
            min_block_delta=max(c.min_block_delta, c.payout_margin_blocks + 4),
            hold_invoice_max_secs=c.hold_invoice_max_secs,
            signing_timeout_secs=c.signing_timeout_secs,
            min_share_sats=c.min_share_sats,
        )

    @property
    def timeouts(self) -> Timeouts:
        c = self.settings.competitions
        return Timeouts(c.signing_timeout_secs, c.failed_cancel_after_secs)

    @property
    def payout_rules(self) -> PayoutRules:
        c = self.settings.competitions
        return PayoutRules(
            margin_blocks=c.payout_margin_blocks,
            max_cltv_limit=c.payout_max_cltv,
            fee_limit_sats=c.payout_fee_limit_sats,
            timeout_secs=c.payout_timeout_secs,
        )

    # -- secrets at rest --------------------------------------------------------------------

    def seal_ticket_preimage(self, ticket_id: uuid.UUID, preimage: bytes) -> str:
        return seal(self.keys.at_rest_key("ticket-preimage"), preimage, _aad("ticket", ticket_id))

    def ticket_preimage(self, ticket_id: uuid.UUID, sealed: str) -> bytes:
        return unseal(self.keys.at_rest_key("ticket-preimage"), sealed, _aad("ticket", ticket_id))

    def seal_entry_secret(self, kind: str, entry_id: uuid.UUID, secret: bytes) -> str:
        return seal(self.keys.at_rest_key("entry-secret"), secret, _aad(kind, entry_id))

    def entry_secret(self, kind: str, entry_id: uuid.UUID, sealed: str) -> bytes:
        return unseal(self.keys.at_rest_key("entry-secret"), sealed, _aad(kind, entry_id))

    def market_maker_secret(self, competition_id: uuid.UUID) -> SecretKey:
        return self.keys.market_maker_secret(competition_id)


def _aad(kind: str, row: uuid.UUID) -> bytes:
    return f"{kind}:{row}".encode()
