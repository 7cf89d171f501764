"""The devnet Lightning HTTP server: simulated LND nodes plus the ``/devnet`` control API.

* ``/nodes/{alias}/...`` — each node's LND REST API (the subset the coordinator uses), checked
  against the node's own macaroon (``Grpc-Metadata-macaroon``, hex).
* ``/devnet/...`` — control (``Authorization: Bearer <token>``): create funded nodes, take
  nodes offline and online, make a node's next payment fail.
* ``/health`` — readiness.

Handlers are coroutines so that every database access happens on the event loop thread.
(No ``from __future__ import annotations`` here: FastAPI must resolve the route signatures,
which refer to names local to the router factories.)
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from devnet.common import bearer_token_guard
from devnet.lightning import lnd_json
from devnet.lightning.hub import EventHub, Subscriber
from devnet.lightning.network import (
    GRPC_INVALID_ARGUMENT,
    MAX_BALANCE_SATS,
    ControlError,
    FeePolicy,
    LightningNetwork,
    LndError,
    PaymentOrder,
)
from devnet.lightning.store import InvoiceRecord, LightningStore, NodeRecord, PaymentRecord

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
FINAL_INVOICE_STATES = ("SETTLED", "CANCELED")
FINAL_PAYMENT_STATES = ("SUCCEEDED", "FAILED")
NDJSON = "application/json"


@dataclass(frozen=True)
class DevnetLightningConfig:
    data_dir: Path
    token: str
    fees: FeePolicy = field(default_factory=FeePolicy)
    #: Nodes created at start-up when missing: (alias, balance in sats).
    initial_nodes: tuple[tuple[str, int], ...] = (("coordinator", 100_000_000),)
    expiry_poll_secs: float = 0.2


class CreateNodeRequest(BaseModel):
    alias: str = Field(min_length=1, max_length=32)
    balance_sats: int = Field(0, ge=0, le=MAX_BALANCE_SATS)


class FailNextPaymentRequest(BaseModel):
    reason: str = Field("FAILURE_REASON_NO_ROUTE", max_length=64)


def create_app(config: DevnetLightningConfig) -> FastAPI:
    """The application; its state lives in ``config.data_dir``."""
    store = LightningStore(config.data_dir / "lightning.db")
    hub = EventHub()
    network = LightningNetwork(store, hub, config.data_dir / "nodes", config.fees)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for alias, balance_sats in config.initial_nodes:
            network.ensure_node(alias, balance_sats)
        for node in network.nodes():
            network.write_credentials(node)
        expired = network.expire_invoices()
        if expired:
            log.info("canceled %d invoices that expired while stopped", expired)
        sweeper = asyncio.create_task(_expire_periodically(network, config.expiry_poll_secs))
        try:
            yield
        finally:
            sweeper.cancel()
            hub.close_all()
            store.close()

    app = FastAPI(title="devnet Lightning (simulated LND nodes)", lifespan=lifespan)
    _install_error_handlers(app)
    app.add_middleware(_BodyLimit)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "nodes": len(network.nodes()), "open_streams": hub.open_streams()}

    app.include_router(_lnd_router(network, hub))
    app.include_router(_control_router(network, hub, config.token))
    return app


async def _expire_periodically(network: LightningNetwork, interval: float) -> None:
    while True:
        try:
            network.expire_invoices()
        except Exception:
            log.exception("expiring invoices failed")
        await asyncio.sleep(interval)


class _BodyLimit:
    """Refuse request bodies announced larger than ``MAX_BODY_BYTES`` (pure ASGI, so streaming
    responses pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers", [])).get(b"content-length", b"0")
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                response = JSONResponse({"detail": "request body too large"}, status_code=413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _install_error_handlers(app: FastAPI) -> None:
    async def on_lnd_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, LndError)
        return JSONResponse(lnd_json.error_body(exc), status_code=exc.http_status)

    async def on_control_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ControlError)
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    async def on_invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not request.url.path.startswith("/nodes/"):
            return await request_validation_exception_handler(request, exc)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        error = LndError(GRPC_INVALID_ARGUMENT, f"{where}: {first.get('msg', 'invalid')}")
        return JSONResponse(lnd_json.error_body(error), status_code=error.http_status)

    app.add_exception_handler(LndError, on_lnd_error)
    app.add_exception_handler(ControlError, on_control_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)


def _lnd_router(network: LightningNetwork, hub: EventHub) -> APIRouter:
    router = APIRouter(prefix="/nodes/{alias}")

    async def lnd_node(
        alias: str, grpc_metadata_macaroon: Annotated[str | None, Header()] = None
    ) -> NodeRecord:
        return network.authorize(alias, grpc_metadata_macaroon)

    Node = Annotated[NodeRecord, Depends(lnd_node)]

    @router.get("/v1/getinfo")
    async def get_info(node: Node) -> dict[str, Any]:
        return lnd_json.get_info(node, num_peers=len(network.nodes()) - 1)

    @router.get("/v1/balance/channels")
    async def channel_balance(node: Node) -> dict[str, Any]:
        return lnd_json.channel_balance(network.balance(node.alias))

    @router.post("/v1/invoices")
    async def add_invoice(node: Node, body: lnd_json.AddInvoiceRequest) -> dict[str, Any]:
        record = network.add_invoice(
            node,
            value_msat=lnd_json.value_msat(body.value, body.value_msat),
            memo=body.memo,
            expiry_secs=body.expiry,
            cltv_expiry=body.cltv_expiry,
            preimage=body.r_preimage or None,
        )
        return lnd_json.add_invoice_response(record, with_hash=True)

    @router.post("/v2/invoices/hodl")
    async def add_hold_invoice(node: Node, body: lnd_json.AddHoldInvoiceRequest) -> dict[str, Any]:
        record = network.add_invoice(
            node,
            value_msat=lnd_json.value_msat(body.value, body.value_msat),
            memo=body.memo,
            expiry_secs=body.expiry,
            cltv_expiry=body.cltv_expiry,
            hold_hash=body.hash,
        )
        return lnd_json.add_invoice_response(record, with_hash=False)

    @router.get("/v2/invoices/lookup")
    async def lookup_invoice(
        node: Node, payment_hash: Annotated[str, Query(max_length=128)] = ""
    ) -> dict[str, Any]:
        r_hash = lnd_json.path_bytes("payment_hash", payment_hash)
        return lnd_json.invoice(network.lookup_invoice(node, r_hash))

    @router.post("/v2/invoices/settle")
    async def settle_invoice(node: Node, body: lnd_json.SettleInvoiceRequest) -> dict[str, Any]:
        network.settle_invoice(node, body.preimage)
        return {}

    @router.post("/v2/invoices/cancel")
    async def cancel_invoice(node: Node, body: lnd_json.CancelInvoiceRequest) -> dict[str, Any]:
        network.cancel_invoice(node, body.payment_hash)
        return {}

    @router.get("/v1/invoices/subscribe")
    async def subscribe_invoices(
        node: Node,
        add_index: Annotated[int, Query(ge=0)] = 0,
        settle_index: Annotated[int, Query(ge=0)] = 0,
    ) -> Response:
        subscriber = hub.subscribe_invoices(node.alias)
        backlog: list[InvoiceRecord] = []
        if add_index:
            backlog += network.invoices_added_after(node, add_index)
        if settle_index:
            backlog += network.invoices_settled_after(node, settle_index)
        return StreamingResponse(_invoice_lines(subscriber, backlog, None), media_type=NDJSON)

    @router.get("/v2/invoices/subscribe/{r_hash}")
    async def subscribe_single_invoice(node: Node, r_hash: str) -> Response:
        payment_hash = lnd_json.path_bytes("r_hash", r_hash)
        subscriber = hub.subscribe_invoices(node.alias)
        try:
            current = network.lookup_invoice(node, payment_hash)
        except LndError as exc:
            subscriber.close()
            return _stream_error(exc)
        lines = _invoice_lines(subscriber, [current], payment_hash)
        return StreamingResponse(lines, media_type=NDJSON)

    @router.post("/v2/router/send")
    async def send_payment(node: Node, body: lnd_json.SendPaymentRequest) -> Response:
        order = PaymentOrder(
            payment_request=body.payment_request,
            amount_msat=lnd_json.value_msat(body.amt, body.amt_msat),
            fee_limit_msat=lnd_json.value_msat(body.fee_limit_sat, body.fee_limit_msat),
            allow_self_payment=body.allow_self_payment,
        )
        # Subscribed first, so the stream carries every update of this payment.
        subscriber = hub.subscribe_payments(node.alias)
        try:
            payment = network.send_payment(node.alias, order)
        except LndError as exc:
            subscriber.close()
            return _stream_error(exc)
        lines = _payment_lines(subscriber, [], payment.payment_hash, body.no_inflight_updates)
        return StreamingResponse(lines, media_type=NDJSON)

    @router.get("/v2/router/track/{payment_hash}")
    async def track_payment(
        node: Node, payment_hash: str, no_inflight_updates: bool = False
    ) -> Response:
        wanted = lnd_json.path_bytes("payment_hash", payment_hash)
        subscriber = hub.subscribe_payments(node.alias)
        try:
            current = network.payment(node, wanted)
        except LndError as exc:
            subscriber.close()
            return _stream_error(exc)
        lines = _payment_lines(subscriber, [current], wanted, no_inflight_updates)
        return StreamingResponse(lines, media_type=NDJSON)

    @router.get("/v2/router/payments")
    async def track_payments(node: Node, no_inflight_updates: bool = False) -> Response:
        subscriber = hub.subscribe_payments(node.alias)
        lines = _payment_lines(subscriber, [], None, no_inflight_updates)
        return StreamingResponse(lines, media_type=NDJSON)

    return router


def _stream_error(error: LndError) -> Response:
    """A streaming call refused before its first message, as LND's gateway answers it."""
    return JSONResponse(lnd_json.stream_error_body(error), status_code=error.http_status)


async def _invoice_lines(
    subscriber: Subscriber[InvoiceRecord], first: list[InvoiceRecord], only: bytes | None
) -> AsyncIterator[bytes]:
    """Invoice stream: ``first``, then live changes (of invoice ``only`` until final)."""
    try:
        for record in first:
            yield lnd_json.stream_line(lnd_json.invoice(record))
            if only is not None and record.state in FINAL_INVOICE_STATES:
                return
        while (change := await subscriber.next()) is not None:
            if only is not None and change.r_hash != only:
                continue
            yield lnd_json.stream_line(lnd_json.invoice(change))
            if only is not None and change.state in FINAL_INVOICE_STATES:
                return
    finally:
        subscriber.close()


async def _payment_lines(
    subscriber: Subscriber[PaymentRecord],
    first: list[PaymentRecord],
    only: bytes | None,
    final_only: bool,
) -> AsyncIterator[bytes]:
    """Payment stream: ``first``, then live changes (of payment ``only`` until final)."""
    try:
        for record in first:
            if not final_only or record.status in FINAL_PAYMENT_STATES:
                yield lnd_json.stream_line(lnd_json.payment(record))
            if only is not None and record.status in FINAL_PAYMENT_STATES:
                return
        while (change := await subscriber.next()) is not None:
            if only is not None and change.payment_hash != only:
                continue
            if not final_only or change.status in FINAL_PAYMENT_STATES:
                yield lnd_json.stream_line(lnd_json.payment(change))
            if only is not None and change.status in FINAL_PAYMENT_STATES:
                return
    finally:
        subscriber.close()


def _control_router(network: LightningNetwork, hub: EventHub, token: str) -> APIRouter:
    router = APIRouter(prefix="/devnet", dependencies=[Depends(bearer_token_guard(token))])

    def view(node: NodeRecord) -> dict[str, Any]:
        balance = network.balance(node.alias)
        return {
            "alias": node.alias,
            "pubkey": node.pubkey.hex(),
            "online": node.online,
            "balance_msat": balance.local_msat,
            "unsettled_local_msat": balance.unsettled_local_msat,
            "unsettled_remote_msat": balance.unsettled_remote_msat,
            "fail_next_payment": node.fail_next_reason,
            "open_streams": hub.open_streams(node.alias),
            "base_path": f"/nodes/{node.alias}",
            "macaroon_hex": node.macaroon.hex(),
            "macaroon_path": str(network.macaroon_path(node.alias).resolve()),
        }

    @router.post("/nodes", status_code=201)
    async def create_node(body: CreateNodeRequest) -> dict[str, Any]:
        return view(network.create_node(body.alias, body.balance_sats))

    @router.get("/nodes")
    async def list_nodes() -> list[dict[str, Any]]:
        return [view(node) for node in network.nodes()]

    @router.get("/nodes/{alias}")
    async def get_node(alias: str) -> dict[str, Any]:
        return view(network.node(alias))

    @router.post("/nodes/{alias}/offline")
    async def take_offline(alias: str) -> dict[str, Any]:
        return view(network.set_online(alias, False))

    @router.post("/nodes/{alias}/online")
    async def bring_online(alias: str) -> dict[str, Any]:
        return view(network.set_online(alias, True))

    @router.post("/nodes/{alias}/fail-next-payment")
    async def fail_next_payment(alias: str, body: FailNextPaymentRequest) -> dict[str, Any]:
        return view(network.fail_next_payment(alias, body.reason))

    return router
