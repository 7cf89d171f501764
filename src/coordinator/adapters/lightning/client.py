"""LND REST client implementing the Lightning port.

Endpoints: ``GET /v1/getinfo``, ``GET /v1/balance/channels``, ``POST /v1/invoices``,
``POST /v2/invoices/hodl``, ``GET /v2/invoices/lookup``, ``POST /v2/invoices/settle``,
``POST /v2/invoices/cancel``, ``GET /v2/invoices/subscribe/{hash}``,
``GET /v1/invoices/subscribe``, ``POST /v2/router/send``, ``GET /v2/router/track/{hash}``,
``GET /v2/router/payments``.

Every call the client makes is idempotent, so unary calls are retried on transient failures:
invoices are created for a hash the client chose (a repeat is recognised and looked up),
settle and cancel are no-ops when already done, and LND refuses a second payment of a hash
that is in flight or paid (the client then reports that payment).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coordinator.adapters.lightning.codec import (
    LND_NETWORK_NAME,
    b64,
    b64url,
    invoice_indexes,
    parse_channel_balance,
    parse_created_invoice,
    parse_invoice,
    parse_node_info,
    parse_payment,
)
from coordinator.adapters.lightning.subscriptions import ReconnectPolicy, ResumableStream
from coordinator.adapters.lightning.transport import LndTransport
from coordinator.config import LightningSettings
from coordinator.domain.ports.lightning import (
    ChannelBalance,
    CreatedInvoice,
    Invoice,
    LightningNode,
    NodeInfo,
    Payment,
    PendingHashes,
)
from coordinator_core.bolt11 import BitcoinNetwork, DecodedInvoice, check_invoice, decode_invoice
from coordinator_core.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    PermanentError,
    TransientError,
    ValidationError,
)

log = logging.getLogger(__name__)

MAX_MEMO_BYTES = 1024  # LND's limit
MAX_CLTV_DELTA = 2016  # LND's largest final CLTV delta and route time lock
PAYMENTS_PAGE = 500


class LndRestClient:
    """The coordinator's LND node over its REST API (implements ``LightningNode``)."""

    def __init__(
        self,
        base_url: str,
        *,
        network: BitcoinNetwork,
        macaroon: bytes | None = None,
        tls_cert_pem: bytes | None = None,
        request_timeout_secs: float = 10.0,
        max_retries: int = 3,
        min_invoice_validity_secs: float = 10.0,
        reconnect: ReconnectPolicy | None = None,
    ) -> None:
        self.network = network
        self.min_invoice_validity_secs = min_invoice_validity_secs
        self.reconnect = reconnect or ReconnectPolicy()
        self._transport = LndTransport(
            base_url,
            macaroon=macaroon,
            tls_cert_pem=tls_cert_pem,
            timeout_secs=request_timeout_secs,
            max_retries=max_retries,
        )

    @classmethod
    def from_settings(cls, settings: LightningSettings, network: BitcoinNetwork) -> LndRestClient:
        """A client for the configured node, reading its macaroon and TLS certificate files."""
        return cls(
            settings.base_url,
            network=network,
            macaroon=_read_file(settings.macaroon_file_path, "macaroon")
            if settings.macaroon_file_path
            else None,
            tls_cert_pem=_read_file(settings.tls_cert_path, "TLS certificate")
            if settings.tls_cert_path
            else None,
            request_timeout_secs=settings.request_timeout_secs,
            max_retries=settings.max_retries,
        )

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> LndRestClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # -- node ------------------------------------------------------------------------------

    async def get_info(self) -> NodeInfo:
        return parse_node_info(await self._transport.call("GET", "/v1/getinfo"))

    async def check_network(self) -> NodeInfo:
        """``get_info``, refusing a node on another network than the configured one."""
        info = await self.get_info()
        if info.network != self.network:
            found = LND_NETWORK_NAME[info.network] if info.network else "an unknown network"
            raise ConfigError(f"LND node is on {found}, not {LND_NETWORK_NAME[self.network]}")
        return info

    async def channel_balance(self) -> ChannelBalance:
        return parse_channel_balance(await self._transport.call("GET", "/v1/balance/channels"))

    # -- invoices --------------------------------------------------------------------------

    async def create_hold_invoice(
        self, payment_hash: bytes, amount_msat: int, expiry_secs: int, memo: str = ""
    ) -> CreatedInvoice:
        _check_hash(payment_hash)
        _check_invoice_terms(amount_msat, expiry_secs, memo)
        body = {
            "hash": b64(payment_hash),
            "value_msat": str(amount_msat),
            "expiry": str(expiry_secs),
            "memo": memo,
        }
        try:
            answer = await self._transport.call("POST", "/v2/invoices/hodl", json_body=body)
        except ConflictError:
            return await self._existing_invoice(payment_hash, amount_msat)
        created = parse_created_invoice(answer, payment_hash, "add hold invoice")
        self._check_created(created, amount_msat)
        return created

    async def create_invoice(
        self, amount_msat: int, expiry_secs: int, memo: str = "", cltv_expiry: int = 0
    ) -> CreatedInvoice:
        _check_invoice_terms(amount_msat, expiry_secs, memo)
        if not 0 <= cltv_expiry <= MAX_CLTV_DELTA:
            raise ValidationError(f"cltv_expiry must be between 0 and {MAX_CLTV_DELTA} blocks")
        # The client picks the preimage, so a retried request names the same invoice.
        preimage = os.urandom(32)
        payment_hash = hashlib.sha256(preimage).digest()
        body = {
            "r_preimage": b64(preimage),
            "value_msat": str(amount_msat),
            "expiry": str(expiry_secs),
            "memo": memo,
        }
        if cltv_expiry:
            body["cltv_expiry"] = str(cltv_expiry)
        try:
            answer = await self._transport.call("POST", "/v1/invoices", json_body=body)
        except ConflictError:
            return await self._existing_invoice(payment_hash, amount_msat)
        created = parse_created_invoice(answer, payment_hash)
        self._check_created(created, amount_msat)
        return created

    async def lookup_invoice(self, payment_hash: bytes) -> Invoice:
        _check_hash(payment_hash)
        answer = await self._transport.call(
            "GET", "/v2/invoices/lookup", params={"payment_hash": b64url(payment_hash)}
        )
        invoice = parse_invoice(answer)
        if invoice.payment_hash != payment_hash:
            raise PermanentError("LND lookup answered with another invoice")
        return invoice

    async def settle_invoice(self, preimage: bytes) -> None:
        if len(preimage) != 32:
            raise ValidationError("a preimage is 32 bytes")
        await self._transport.call(
            "POST", "/v2/invoices/settle", json_body={"preimage": b64(preimage)}
        )

    async def cancel_invoice(self, payment_hash: bytes) -> None:
        _check_hash(payment_hash)
        await self._transport.call(
            "POST", "/v2/invoices/cancel", json_body={"payment_hash": b64(payment_hash)}
        )

    async def _existing_invoice(self, payment_hash: bytes, amount_msat: int) -> CreatedInvoice:
        """The invoice LND already has for ``payment_hash``, if it has the same terms."""
        invoice = await self.lookup_invoice(payment_hash)
        if invoice.amount_msat != amount_msat or invoice.state.is_final:
            raise ConflictError(
                f"an invoice for hash {payment_hash.hex()} already exists "
                f"({invoice.state}, {invoice.amount_msat} msat)"
            )
        return CreatedInvoice(payment_hash=payment_hash, payment_request=invoice.payment_request)

    def _check_created(self, created: CreatedInvoice, amount_msat: int) -> None:
        """The payment request LND signed must say what was asked."""
        decoded = decode_invoice(created.payment_request)
        if (
            decoded.payment_hash != created.payment_hash
            or decoded.amount_msat != amount_msat
            or decoded.network != self.network
        ):
            raise PermanentError("LND returned a payment request that does not match the request")

    def subscribe_single_invoice(self, payment_hash: bytes) -> AsyncIterator[Invoice]:
        """One invoice's current state and then each change, ending at a final state."""
        _check_hash(payment_hash)
        return self._single_invoice_updates(payment_hash)

    async def _single_invoice_updates(self, payment_hash: bytes) -> AsyncIterator[Invoice]:
        path = f"/v2/invoices/subscribe/{b64url(payment_hash)}"
        async with self._transport.stream("GET", path) as messages:
            async for message in messages:
                invoice = parse_invoice(message)
                yield invoice
                if invoice.state.is_final:
                    return

    def subscribe_invoices(self, pending: PendingHashes | None = None) -> AsyncIterator[Invoice]:
        indexes = {"add_index": 0, "settle_index": 0}

        def note_indexes(message: dict[str, Any]) -> None:
            # Reconnecting with these makes LND replay invoices added or settled meanwhile.
            add_index, settle_index = invoice_indexes(message)
            indexes["add_index"] = max(indexes["add_index"], add_index)
            indexes["settle_index"] = max(indexes["settle_index"], settle_index)

        def open_stream() -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
            return self._transport.stream(
                "GET",
                "/v1/invoices/subscribe",
                params={key: str(value) for key, value in indexes.items()},
                read_timeout=self.reconnect.idle_timeout_secs,
            )

        stream: ResumableStream[Invoice] = ResumableStream(
            name="LND invoices",
            open_stream=open_stream,
            parse=parse_invoice,
            key=lambda invoice: invoice.payment_hash,
            state=lambda invoice: invoice.state,
            lookup=self.lookup_invoice,
            pending=pending,
            policy=self.reconnect,
            on_message=note_indexes,
        )
        return stream.updates()

    # -- payments --------------------------------------------------------------------------

    def decode_invoice(
        self, payment_request: str, amount_msat: int | None = None
    ) -> DecodedInvoice:
        decoded = decode_invoice(payment_request)
        check_invoice(
            decoded,
            network=self.network,
            amount_msat=amount_msat,
            now=time.time(),
            min_remaining_secs=self.min_invoice_validity_secs,
        )
        return decoded

    async def send_payment(
        self,
        payment_request: str,
        *,
        amount_msat: int | None,
        fee_limit_msat: int,
        timeout_secs: int,
        cltv_limit: int = 0,
    ) -> Payment:
        """Check the invoice, pay it, and wait up to ``timeout_secs`` for a final status.

        A payment still unresolved after ``timeout_secs`` (a held HTLC, a slow route, a lost
        connection) is returned as LND reports it when tracked, typically ``IN_FLIGHT``: the
        caller keeps tracking it. Raises ValidationError before paying an invalid invoice, and
        TransientError when the node cannot say whether the payment started.
        """
        if fee_limit_msat < 0:
            raise ValidationError("fee limit must not be negative")
        if timeout_secs <= 0:
            raise ValidationError("payment timeout must be positive")
        if not 0 <= cltv_limit <= MAX_CLTV_DELTA:
            raise ValidationError(f"cltv_limit must be between 0 and {MAX_CLTV_DELTA} blocks")
        decoded = self.decode_invoice(payment_request, amount_msat)
        if cltv_limit and decoded.min_final_cltv_expiry > cltv_limit:
            raise ValidationError(
                f"the invoice needs {decoded.min_final_cltv_expiry} blocks of time lock, "
                f"more than the limit of {cltv_limit}"
            )
        body: dict[str, object] = {
            "payment_request": decoded.payment_request,
            "timeout_seconds": timeout_secs,
            "fee_limit_msat": str(fee_limit_msat),
            "no_inflight_updates": False,
        }
        if cltv_limit:
            body["cltv_limit"] = cltv_limit
        if decoded.amount_msat is None:
            assert amount_msat is not None  # check_invoice requires it
            body["amt_msat"] = str(amount_msat)
        latest: Payment | None = None
        refusal: PermanentError | None = None
        try:
            async with (
                asyncio.timeout(timeout_secs),
                self._transport.stream("POST", "/v2/router/send", json_body=body) as messages,
            ):
                async for message in messages:
                    latest = self._own_payment(message, decoded.payment_hash)
                    if latest.status.is_final:
                        return latest
        except ConflictError:
            pass  # LND refuses to pay a hash again while in flight or paid: report that payment
        except PermanentError as exc:
            refusal = exc
        except (TimeoutError, TransientError) as exc:
            log.info("payment %s not final yet (%s); tracking it", decoded.payment_hash.hex(), exc)
        # Whatever happened, the node's own record decides; an outcome is never assumed.
        try:
            return await self.track_payment(decoded.payment_hash)
        except NotFoundError:
            if refusal is not None:
                raise refusal from None
            if latest is not None:
                return latest
            raise TransientError(
                f"payment {decoded.payment_hash.hex()} was not started; it is safe to retry"
            ) from None

    async def track_payment(self, payment_hash: bytes) -> Payment:
        _check_hash(payment_hash)
        message = await self._transport.first_result(
            "GET",
            f"/v2/router/track/{b64url(payment_hash)}",
            params={"no_inflight_updates": "false"},
        )
        return self._own_payment(message, payment_hash)

    async def list_payments(self, max_payments: int = 10_000) -> list[Payment]:
        """``GET /v1/payments`` page by page (``index_offset``), in flight ones included."""
        found: list[Payment] = []
        offset = 0
        while len(found) < max_payments:
            page = min(PAYMENTS_PAGE, max_payments - len(found))
            answer = await self._transport.call(
                "GET",
                "/v1/payments",
                params={
                    "include_incomplete": "true",
                    "index_offset": str(offset),
                    "max_payments": str(page),
                },
            )
            items = answer.get("payments") or []
            if not isinstance(items, list):
                raise PermanentError("LND ListPayments: payments is not a list")
            found.extend(parse_payment(item) for item in items)
            last = int(str(answer.get("last_index_offset") or 0))
            if len(items) < page or last <= offset:
                break
            offset = last
        return found

    def subscribe_payments(self, pending: PendingHashes | None = None) -> AsyncIterator[Payment]:
        def open_stream() -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
            return self._transport.stream(
                "GET",
                "/v2/router/payments",
                params={"no_inflight_updates": "false"},
                read_timeout=self.reconnect.idle_timeout_secs,
            )

        stream: ResumableStream[Payment] = ResumableStream(
            name="LND payments",
            open_stream=open_stream,
            parse=parse_payment,
            key=lambda payment: payment.payment_hash,
            state=lambda payment: payment.status,
            lookup=self.track_payment,
            pending=pending,
            policy=self.reconnect,
        )
        return stream.updates()

    @staticmethod
    def _own_payment(message: dict[str, object], payment_hash: bytes) -> Payment:
        payment = parse_payment(message)
        if payment.payment_hash != payment_hash:
            raise PermanentError("LND answered with another payment")
        return payment


def _check_hash(payment_hash: bytes) -> None:
    if len(payment_hash) != 32:
        raise ValidationError("a payment hash is 32 bytes")


def _check_invoice_terms(amount_msat: int, expiry_secs: int, memo: str) -> None:
    if amount_msat <= 0:
        raise ValidationError("invoice amount must be positive")
    if expiry_secs <= 0:
        raise ValidationError("invoice expiry must be positive")
    if len(memo.encode()) > MAX_MEMO_BYTES:
        raise ValidationError(f"invoice memo longer than {MAX_MEMO_BYTES} bytes")


def _read_file(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read LND {what} {path}: {exc.strerror}") from exc
    if not data:
        raise ConfigError(f"LND {what} {path} is empty")
    return data


if TYPE_CHECKING:
    _implements_port: type[LightningNode] = LndRestClient
