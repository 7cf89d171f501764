"""The chain relay of the payouts page: what a winner's browser needs for its on-chain claim.

The browser builds and signs every claim transaction itself (``web/src/claim.js``) and checks
what it is told against the contract it rebuilt; it reads the chain and broadcasts through these
routes because the pages talk only to their own origin. Reads are public and answer what the
coordinator's chain source (Esplora) says. A broadcast needs a NIP-98 signature and is relayed
only if every input of the transaction spends the competition's funding output, an output of a
transaction spending it (an outcome transaction) or an output of one of those (a split
transaction), so the relay cannot be used for anything but a contract's settlement.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from coordinator.app.auth import NostrDep
from coordinator.domain.ports.chain import BroadcastRejectedError, ChainSource
from coordinator_core.errors import NotFoundError, TransientError, ValidationError
from ticketdlc.bitcoin.tx import OutPoint, Transaction
from ticketdlc.typed_bytes import Txid

router = APIRouter(prefix="/chain", include_in_schema=False)
MAX_TX_HEX: Final = 200_000
#: Hops from a relayed input back to the funding outpoint: funding, outcome, split output.
MAX_HOPS: Final = 3
_TXID = re.compile(r"[0-9a-f]{64}")


def _chain(request: Request) -> ChainSource:
    runtime = getattr(request.app.state, "runtime", None)
    bitcoin = getattr(runtime, "bitcoin", None)
    if bitcoin is None:
        raise TransientError("the coordinator has no chain source")
    chain: ChainSource = bitcoin.chain
    return chain


def _txid(text: str) -> Txid:
    if not _TXID.fullmatch(text):
        raise ValidationError("a txid is 64 lowercase hex digits")
    return Txid(text)


@router.get("/tip")
async def tip(request: Request) -> dict[str, int]:
    chain = _chain(request)
    return {"height": await chain.tip_height(), "median_time_past": await chain.median_time_past()}


@router.get("/tx/{txid}/status")
async def tx_status(request: Request, txid: str) -> dict[str, Any]:
    status = await _chain(request).tx_status(_txid(txid))
    if status is None:
        raise NotFoundError(f"transaction {txid} is not known")
    return {"confirmed": status.confirmed, "block_height": status.block_height}


@router.get("/tx/{txid}/outspend/{vout}")
async def outspend(request: Request, txid: str, vout: int) -> dict[str, Any]:
    if not 0 <= vout < 2**32:
        raise ValidationError("vout out of range")
    spend = await _chain(request).output_spend(_txid(txid), vout)
    if spend is None:
        raise NotFoundError(f"output {txid}:{vout} is not known")
    status = None
    if spend.status is not None:
        status = {"confirmed": spend.status.confirmed, "block_height": spend.status.block_height}
    return {"spent": spend.spent, "txid": spend.txid, "vin": spend.vin, "status": status}


@router.get("/tx/{txid}/hex")
async def tx_hex(request: Request, txid: str) -> dict[str, str]:
    raw = await _chain(request).raw_transaction(_txid(txid))
    if raw is None:
        raise NotFoundError(f"transaction {txid} is not known")
    return {"hex": raw.hex()}


class RelayBody(BaseModel):
    competition_id: uuid.UUID
    tx: str = Field(min_length=2, max_length=MAX_TX_HEX)


async def _descends_from(chain: ChainSource, outpoint: OutPoint, funding: OutPoint) -> bool:
    """True if ``outpoint`` is ``funding`` or an output of a transaction whose inputs lead
    back to it within :data:`MAX_HOPS` transactions."""
    frontier = [outpoint]
    for _ in range(MAX_HOPS):
        if funding in frontier:
            return True
        parents: list[OutPoint] = []
        for point in frontier:
            raw = await chain.raw_transaction(point.txid_hex)
            if raw is None:
                continue
            parents += [txin.prevout for txin in Transaction.parse(raw).inputs]
        frontier = parents[:16]
    return funding in frontier


@router.post("/tx")
async def relay(request: Request, body: RelayBody, caller: NostrDep) -> dict[str, str]:
    """Broadcast a settlement transaction of the competition's contract."""
    del caller  # any player may relay a settlement transaction; the signature bounds abuse
    try:
        tx = Transaction.parse(bytes.fromhex(body.tx))
    except ValueError as exc:
        raise ValidationError(f"not a transaction: {exc}") from None
    runtime = request.app.state.runtime
    services = runtime.competitions
    competition = None if services is None else await services.lc.store.load(body.competition_id)
    if competition is None or competition.funding_outpoint is None:
        raise NotFoundError("the competition has no funded contract")
    funding = OutPoint.parse(competition.funding_outpoint)
    chain = _chain(request)
    for txin in tx.inputs:
        if not await _descends_from(chain, txin.prevout, funding):
            raise ValidationError("the transaction does not spend this competition's contract")
    try:
        txid = await chain.broadcast(tx.serialize())
    except BroadcastRejectedError as exc:
        raise ValidationError(exc.reason) from None
    return {"txid": str(txid)}
