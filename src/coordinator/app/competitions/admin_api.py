"""Operator routes of the admin listener: competitions, owed winners, payout holds, wallet.

Every route needs the admin credential (``require_admin``); none is served by the public
listener. There is no route that marks anything paid: money only moves through Lightning and
the chain.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from coordinator.app.auth import AdminDep
from coordinator.app.bitcoin import Bitcoin
from coordinator.app.competitions import owed as owed_service
from coordinator.app.competitions.api import (
    MAX_PAGE,
    Services,
    paged,
    status_filter,
)
from coordinator.app.competitions.creation import cancel_competition, create_competition
from coordinator.app.competitions.schemas import (
    CreateEventBody,
    WalletSendBody,
    competition_json,
    history_json,
    hold_json,
    owed_json,
    payout_json,
    tx_json,
)
from coordinator.domain.competitions.transitions import describe
from coordinator_core.errors import NotFoundError, TransientError

router = APIRouter(prefix="/api/v1", tags=["admin"])


def bitcoin_of(request: Request) -> Bitcoin:
    found: Bitcoin | None = getattr(request.app.state.runtime, "bitcoin", None)
    if found is None:
        raise TransientError("the wallet is not available")
    return found


BitcoinDep = Annotated[Bitcoin, Depends(bitcoin_of)]


@router.post("/competitions", status_code=201)
async def create(body: CreateEventBody, _: AdminDep, svc: Services) -> dict[str, Any]:
    """Create a competition (upstream ``CreateEvent``); refused, naming the limit, when the
    system could not carry it through (before any ticket exists)."""
    terms = body.terms(svc.lc.settings.coordinator.relative_locktime_block_delta)
    created = await create_competition(svc.lc, terms)
    svc.processor.wake()
    return competition_json(created)


@router.get("/admin/competitions")
async def list_all(
    _: AdminDep,
    svc: Services,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: uuid.UUID | None = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    page = await svc.lc.store.page(limit, cursor, status_filter(status))
    items = [{**competition_json(c), "history": history_json(c)} for c in page.items]
    return paged(items, page.next_cursor)


@router.get("/admin/competitions/{competition_id}")
async def show(competition_id: uuid.UUID, _: AdminDep, svc: Services) -> dict[str, Any]:
    """One competition with its state history, errors, tickets, payouts and transactions."""
    store = svc.lc.store
    c = await store.load(competition_id)
    if c is None:
        raise NotFoundError(f"competition {competition_id} not found")
    now = svc.lc.clock()
    tickets = [
        {
            "ticket_id": str(t.id),
            "entry_id": str(t.entry_id),
            "status": t.status(now).value,
            "reserved_by": t.reserved_by,
            "registered": t.registration is not None,
            "registration_forwarded": t.registration is not None
            and t.registration.forwarded_at is not None,
            "registration_error": None if t.registration is None else t.registration.error,
        }
        for t in await store.tickets_of(c.id)
    ]
    return {
        **competition_json(c, signed_contract=False),
        "history": history_json(c),
        "tickets": tickets,
        "payouts": [payout_json(p) for p in await store.payouts_of(c.id)],
        "transactions": [tx_json(t) for t in await store.txs_of(c.id)],
        "owed_winners": [owed_json(o) for o in await store.owed_of(c.id)],
    }


@router.delete("/admin/competitions/{competition_id}")
async def cancel(competition_id: uuid.UUID, _: AdminDep, svc: Services) -> dict[str, Any]:
    """Cancel before funding: every held entry fee is returned at once."""
    cancelled = await cancel_competition(svc.lc, competition_id, "cancelled by an operator")
    return competition_json(cancelled, signed_contract=False)


@router.get("/admin/lifecycle")
async def lifecycle_table(_: AdminDep) -> dict[str, str]:
    """The transition table the processor runs, as text."""
    return {"table": describe()}


@router.get("/admin/owed-winners")
async def owed_winners(_: AdminDep, svc: Services, unresolved: bool = True) -> list[dict[str, Any]]:
    """Winners whose Lightning payout window closed unpaid; they can claim on chain."""
    return [owed_json(o) for o in await svc.lc.store.owed_all(unresolved_only=unresolved)]


@router.post("/admin/owed-winners/{entry_id}/approve-sweep")
async def approve_sweep(entry_id: uuid.UUID, _: AdminDep, svc: Services) -> dict[str, Any]:
    """Let the coordinator sweep an owed winner's output (after the operator paid the winner
    another way). Refused before the contract's reclaim timelock has passed."""
    approved = await owed_service.approve_sweep(svc.lc, entry_id)
    svc.processor.wake()
    return owed_json(approved)


@router.get("/admin/payout-holds")
async def payout_holds(_: AdminDep, svc: Services, active: bool = True) -> list[dict[str, Any]]:
    return [hold_json(h) for h in await svc.lc.store.holds(active_only=active)]


@router.post("/admin/payout-holds/{entry_id}/release")
async def release_hold(entry_id: uuid.UUID, _: AdminDep, svc: Services) -> dict[str, int]:
    released = await svc.lc.store.release_hold(entry_id, svc.lc.clock())
    if not released:
        raise NotFoundError(f"entry {entry_id} has no active payout hold")
    return {"released": released}


# -- wallet (upstream §4.3.12, now operator-only) ----------------------------------------------


@router.get("/wallet/balance")
async def wallet_balance(_: AdminDep, bitcoin: BitcoinDep) -> dict[str, int]:
    balance = await bitcoin.wallet.balance()
    return {
        "immature": balance.immature,
        "trusted_pending": balance.trusted_pending,
        "untrusted_pending": balance.untrusted_pending,
        "confirmed": balance.confirmed,
    }


@router.get("/wallet/address")
async def wallet_address(_: AdminDep, bitcoin: BitcoinDep) -> dict[str, str]:
    return {"address": await bitcoin.wallet.new_address()}


@router.get("/wallet/outputs")
async def wallet_outputs(
    _: AdminDep, bitcoin: BitcoinDep, include_spent: bool = False
) -> dict[str, list[dict[str, Any]]]:
    outputs = await bitcoin.wallet.outputs(include_spent)
    return {
        "outputs": [
            {
                "outpoint": o.outpoint,
                "value": o.value,
                "address": o.address,
                "keychain": o.keychain,
                "is_spent": o.is_spent,
                "confirmation_height": o.confirmation_height,
            }
            for o in outputs
        ]
    }


@router.get("/wallet/estimated_fees")
async def wallet_fees(_: AdminDep, bitcoin: BitcoinDep) -> dict[str, dict[str, float]]:
    estimates = await bitcoin.chain.fee_estimates()
    return {"fee_estimates": {str(k): v for k, v in sorted(estimates.items())}}


@router.post("/wallet/send", status_code=201)
async def wallet_send(body: WalletSendBody, _: AdminDep, bitcoin: BitcoinDep) -> dict[str, Any]:
    wallet = bitcoin.wallet
    selected: list[str] | None = None
    if body.address_from is not None:
        selected = [
            o.outpoint
            for o in await wallet.outputs()
            if o.address == body.address_from and o.confirmation_height is not None
        ]
        if not selected:
            raise NotFoundError(f"no confirmed outputs at {body.address_from}")
    sent = await wallet.send(
        body.address_to,
        body.amount,
        fee_rate=body.fee_rate,
        max_fee_sats=body.max_fee,
        from_outpoints=selected,
    )
    return {"txid": sent.txid, "fee": sent.fee}
