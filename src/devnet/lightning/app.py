"""The devnet Lightning HTTP server: simulated LND nodes plus the ``/devnet`` control API.

* ``/nodes/{alias}/...`` — each node's LND REST API (the subset the coordinator uses), checked
  against the node's own macaroon (``Grpc-Metadata-macaroon``, hex).
* ``/devnet/...`` — control (``Authorization: Bearer <token>``): create funded nodes, take
  nodes offline and online, make a node's next payment fail.
* ``/health`` — readiness.

Routers are module-level; handlers reach the network and the stream hub through dependencies.
Handlers are coroutines so that every database access happens on the event loop thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from coordinator_core.asgi_app import api_app
from coordinator_core.body_limit import BodyLimitMiddleware
from coordinator_core.validation import MAX_INT64
from devnet.common import require_devnet_token, validation_message
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

    app = api_app("devnet Lightning (simulated LND nodes)", lifespan)
    app.state.network, app.state.hub, app.state.devnet_token = network, hub, config.token
    _install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_api_route("/health", health, methods=["GET"])
    app.include_router(lnd)
    app.include_router(control)
    return app


async def _expire_periodically(network: LightningNetwork, interval: float) -> None:
    while True:
        try:
            network.expire_invoices()
        except Exception:
            log.exception("expiring invoices failed")
        await asyncio.sleep(interval)


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
            return JSONResponse({"detail": validation_message(exc)}, status_code=422)
        error = LndError(GRPC_INVALID_ARGUMENT, validation_message(exc))
        return JSONResponse(lnd_json.error_body(error), status_code=error.http_status)

    async def on_stream_refused(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, _StreamRefusedError)
        body = lnd_json.stream_error_body(exc.error)
        return JSONResponse(body, status_code=exc.error.http_status)

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code)

    app.add_exception_handler(LndError, on_lnd_error)
    app.add_exception_handler(ControlError, on_control_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(_StreamRefusedError, on_stream_refused)


# -- dependencies -------------------------------------------------------------------------------


def _network(request: Request) -> LightningNetwork:
    network: LightningNetwork = request.app.state.network
    return network


def _hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.hub
    return hub


Network = Annotated[LightningNetwork, Depends(_network)]
Hub = Annotated[EventHub, Depends(_hub)]


async def _lnd_node(
    alias: str,
    network: Network,
    grpc_metadata_macaroon: Annotated[str | None, Header(max_length=4096)] = None,
) -> NodeRecord:
    return network.authorize(alias, grpc_metadata_macaroon)


Node = Annotated[NodeRecord, Depends(_lnd_node)]
StreamIndex = Annotated[int, Query(ge=0, le=MAX_INT64)]


async def health(network: Network, hub: Hub) -> dict[str, Any]:
    return {"status": "ok", "nodes": len(network.nodes()), "open_streams": hub.open_streams()}


# -- LND REST -----------------------------------------------------------------------------------

lnd = APIRouter(prefix="/nodes/{alias}")


@lnd.get("/v1/getinfo")
async def get_info(node: Node, network: Network) -> dict[str, Any]:
    return lnd_json.get_info(node, num_peers=len(network.nodes()) - 1)


@lnd.get("/v1/balance/channels")
async def channel_balance(node: Node, network: Network) -> dict[str, Any]:
    return lnd_json.channel_balance(network.balance(node.alias))


@lnd.post("/v1/invoices")
async def add_invoice(
    node: Node, body: lnd_json.AddInvoiceRequest, network: Network
) -> dict[str, Any]:
    record = network.add_invoice(
        node,
        value_msat=lnd_json.value_msat(body.value, body.value_msat),
        memo=body.memo,
        expiry_secs=body.expiry,
        cltv_expiry=body.cltv_expiry,
        preimage=body.r_preimage or None,
    )
    return lnd_json.add_invoice_response(record, with_hash=True)


@lnd.post("/v2/invoices/hodl")
async def add_hold_invoice(
    node: Node, body: lnd_json.AddHoldInvoiceRequest, network: Network
) -> dict[str, Any]:
    record = network.add_invoice(
        node,
        value_msat=lnd_json.value_msat(body.value, body.value_msat),
        memo=body.memo,
        expiry_secs=body.expiry,
        cltv_expiry=body.cltv_expiry,
        hold_hash=body.hash,
    )
    return lnd_json.add_invoice_response(record, with_hash=False)


@lnd.get("/v2/invoices/lookup")
async def lookup_invoice(
    node: Node, network: Network, payment_hash: Annotated[str, Query(max_length=128)] = ""
) -> dict[str, Any]:
    r_hash = lnd_json.path_bytes("payment_hash", payment_hash)
    return lnd_json.invoice(network.lookup_invoice(node, r_hash))


@lnd.post("/v2/invoices/settle")
async def settle_invoice(
    node: Node, body: lnd_json.SettleInvoiceRequest, network: Network
) -> dict[str, Any]:
    network.settle_invoice(node, body.preimage)
    return {}


@lnd.post("/v2/invoices/cancel")
async def cancel_invoice(
    node: Node, body: lnd_json.CancelInvoiceRequest, network: Network
) -> dict[str, Any]:
    network.cancel_invoice(node, body.payment_hash)
    return {}


@lnd.get("/v1/invoices/subscribe")
async def subscribe_invoices(
    node: Node,
    network: Network,
    hub: Hub,
    add_index: StreamIndex = 0,
    settle_index: StreamIndex = 0,
) -> Response:
    with _opened(hub.subscribe_invoices(node.alias)) as subscriber:
        backlog: list[InvoiceRecord] = []
        if add_index:
            backlog += network.invoices_added_after(node, add_index)
        if settle_index:
            backlog += network.invoices_settled_after(node, settle_index)
        return _Stream(subscriber, _invoice_lines(subscriber, backlog, None))


@lnd.get("/v2/invoices/subscribe/{r_hash}")
async def subscribe_single_invoice(node: Node, r_hash: str, network: Network, hub: Hub) -> Response:
    payment_hash = lnd_json.path_bytes("r_hash", r_hash)
    with _opened(hub.subscribe_invoices(node.alias)) as subscriber:
        current = network.lookup_invoice(node, payment_hash)
        return _Stream(subscriber, _invoice_lines(subscriber, [current], payment_hash))


@lnd.post("/v2/router/send")
async def send_payment(
    node: Node, body: lnd_json.SendPaymentRequest, network: Network, hub: Hub
) -> Response:
    order = PaymentOrder(
        payment_request=body.payment_request,
        amount_msat=lnd_json.value_msat(body.amt, body.amt_msat),
        fee_limit_msat=lnd_json.value_msat(body.fee_limit_sat, body.fee_limit_msat),
        allow_self_payment=body.allow_self_payment,
        cltv_limit=body.cltv_limit,
    )
    # Subscribed first, so the stream carries every update of this payment.
    with _opened(hub.subscribe_payments(node.alias)) as subscriber:
        payment = network.send_payment(node.alias, order)
        lines = _payment_lines(subscriber, [], payment.payment_hash, body.no_inflight_updates)
        return _Stream(subscriber, lines)


@lnd.get("/v2/router/track/{payment_hash}")
async def track_payment(
    node: Node, payment_hash: str, network: Network, hub: Hub, no_inflight_updates: bool = False
) -> Response:
    wanted = lnd_json.path_bytes("payment_hash", payment_hash)
    with _opened(hub.subscribe_payments(node.alias)) as subscriber:
        current = network.payment(node, wanted)
        lines = _payment_lines(subscriber, [current], wanted, no_inflight_updates)
        return _Stream(subscriber, lines)


@lnd.get("/v1/payments")
async def list_payments(
    node: Node,
    network: Network,
    index_offset: StreamIndex = 0,
    max_payments: Annotated[int, Query(ge=1, le=10_000)] = 100,
    include_incomplete: bool = False,
) -> dict[str, Any]:
    """``ListPayments``: the node's payments after ``index_offset``, oldest first."""
    records = network.payments(node, index_offset, max_payments)
    if not include_incomplete:
        records = [r for r in records if r.status == "SUCCEEDED"]
    return {
        "payments": [lnd_json.payment(r) for r in records],
        "first_index_offset": str(records[0].payment_index if records else 0),
        "last_index_offset": str(records[-1].payment_index if records else index_offset),
        "total_num_payments": str(len(records)),
    }


@lnd.get("/v2/router/payments")
async def track_payments(node: Node, hub: Hub, no_inflight_updates: bool = False) -> Response:
    with _opened(hub.subscribe_payments(node.alias)) as subscriber:
        return _Stream(subscriber, _payment_lines(subscriber, [], None, no_inflight_updates))


# -- streams ------------------------------------------------------------------------------------

RecordT = TypeVar("RecordT", InvoiceRecord, PaymentRecord)


class _StreamRefusedError(Exception):
    """A streaming call refused before its first message (as LND's gateway answers it)."""

    def __init__(self, error: LndError) -> None:
        super().__init__(error.message)
        self.error = error


@contextmanager
def _opened(subscriber: Subscriber[RecordT]) -> Iterator[Subscriber[RecordT]]:
    """Close ``subscriber`` unless the block hands it to a :class:`_Stream`; an LND error
    raised in the block becomes a stream refusal."""
    try:
        yield subscriber
    except LndError as exc:
        subscriber.close()
        raise _StreamRefusedError(exc) from None
    except BaseException:
        subscriber.close()
        raise


class _Stream(StreamingResponse):
    """An LND server stream whose subscription is closed when the response ends, however it
    ends (stream finished, client gone, send failed, task cancelled) or if it never starts."""

    def __init__(self, subscriber: Subscriber[Any], lines: AsyncIterator[bytes]) -> None:
        super().__init__(lines, media_type=NDJSON)
        self._subscriber = subscriber

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._subscriber.close()
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()


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


# -- control ------------------------------------------------------------------------------------

control = APIRouter(prefix="/devnet", dependencies=[Depends(require_devnet_token)])


def _view(node: NodeRecord, network: LightningNetwork, hub: EventHub) -> dict[str, Any]:
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


@control.post("/nodes", status_code=201)
async def create_node(body: CreateNodeRequest, network: Network, hub: Hub) -> dict[str, Any]:
    return _view(network.create_node(body.alias, body.balance_sats), network, hub)


@control.get("/nodes")
async def list_nodes(network: Network, hub: Hub) -> list[dict[str, Any]]:
    return [_view(node, network, hub) for node in network.nodes()]


@control.get("/nodes/{alias}")
async def get_node(alias: str, network: Network, hub: Hub) -> dict[str, Any]:
    return _view(network.node(alias), network, hub)


@control.post("/nodes/{alias}/offline")
async def take_offline(alias: str, network: Network, hub: Hub) -> dict[str, Any]:
    return _view(network.set_online(alias, False), network, hub)


@control.post("/nodes/{alias}/online")
async def bring_online(alias: str, network: Network, hub: Hub) -> dict[str, Any]:
    return _view(network.set_online(alias, True), network, hub)


@control.post("/nodes/{alias}/fail-next-payment")
async def fail_next_payment(
    alias: str, body: FailNextPaymentRequest, network: Network, hub: Hub
) -> dict[str, Any]:
    return _view(network.fail_next_payment(alias, body.reason), network, hub)
