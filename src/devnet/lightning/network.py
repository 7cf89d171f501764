"""The simulated Lightning network: funded nodes, plain and hold invoices, payments.

All nodes live in one process and are connected through an implicit routing hub that charges
``FeePolicy`` fees. A payment from one node to another's invoice behaves as LND does:

* plain invoice: the invoice settles and the payment succeeds at once;
* hold invoice: the invoice becomes ``ACCEPTED`` and the payment stays ``IN_FLIGHT`` (the amount
  held on both sides) until the receiver settles (payment ``SUCCEEDED`` with the preimage) or
  cancels, or the invoice expires (invoice ``CANCELED``, payment ``FAILED``, money back). The
  devnet uses the invoice expiry as the deadline of a held HTLC (LND's is the HTLC's CLTV).

Failures are reported with LND's ``FAILURE_REASON_*`` names; an offline or unknown receiver, a
fee over the limit, or an injected failure fail the payment before any HTLC is sent.
Every change is committed before it is published to the node's streams.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coincurve import PrivateKey

from coordinator_core.bolt11 import InvalidInvoiceError, decode_invoice
from coordinator_core.private_file import write_private
from coordinator_core.validation import MAX_MONEY_MSAT, MAX_MONEY_SAT
from devnet.lightning.credentials import MACAROON_FILE, mint_macaroon
from devnet.lightning.hub import EventHub
from devnet.lightning.invoices import DEFAULT_CLTV_EXPIRY, encode_invoice
from devnet.lightning.store import InvoiceRecord, LightningStore, NodeRecord, PaymentRecord

# gRPC status codes LND's REST gateway reports, and the HTTP status it maps each to.
GRPC_UNKNOWN = 2
GRPC_INVALID_ARGUMENT = 3
GRPC_NOT_FOUND = 5
GRPC_UNAVAILABLE = 14
HTTP_STATUS = {
    GRPC_UNKNOWN: 500,
    GRPC_INVALID_ARGUMENT: 400,
    GRPC_NOT_FOUND: 404,
    GRPC_UNAVAILABLE: 503,
}

NO_FAILURE = "FAILURE_REASON_NONE"
NO_ROUTE = "FAILURE_REASON_NO_ROUTE"
INCORRECT_PAYMENT_DETAILS = "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS"
INSUFFICIENT_BALANCE = "FAILURE_REASON_INSUFFICIENT_BALANCE"
FAILURE_REASONS = (
    "FAILURE_REASON_TIMEOUT",
    NO_ROUTE,
    "FAILURE_REASON_ERROR",
    INCORRECT_PAYMENT_DETAILS,
    INSUFFICIENT_BALANCE,
    "FAILURE_REASON_CANCELED",
)

CURRENCY = "bcrt"  # the devnet is a regtest network
ALIAS_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_BALANCE_SATS = MAX_MONEY_SAT
MAX_MEMO_BYTES = 1024
MAX_EXPIRY_SECS = 365 * 24 * 3600
MAX_CLTV_EXPIRY = 2**16 - 1
DEFAULT_EXPIRY_SECS = 3600


class LndError(Exception):
    """An error as LND's REST API reports it: a gRPC code and a message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


class ControlError(Exception):
    """A refused ``/devnet`` control request."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class FeePolicy:
    """Routing fee charged by the implicit hub between two different nodes."""

    base_msat: int = 1000
    ppm: int = 1000

    def fee_msat(self, amount_msat: int) -> int:
        return self.base_msat + amount_msat * self.ppm // 1_000_000


@dataclass(frozen=True)
class PaymentOrder:
    """The parts of LND's ``SendPaymentRequest`` the devnet honours."""

    payment_request: str
    amount_msat: int  # 0 unless paying a zero-amount invoice
    fee_limit_msat: int
    allow_self_payment: bool = False
    cltv_limit: int = 0  # the route's largest total time lock (0: LND's default)


@dataclass(frozen=True)
class Balance:
    local_msat: int
    unsettled_local_msat: int
    unsettled_remote_msat: int


class LightningNetwork:
    """Operations on the simulated network; each one is a single committed transaction."""

    def __init__(
        self,
        store: LightningStore,
        hub: EventHub,
        nodes_dir: Path,
        fees: FeePolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._hub = hub
        self.nodes_dir = nodes_dir
        self._fees = fees
        self._clock = clock

    # -- nodes ------------------------------------------------------------------------------

    def create_node(self, alias: str, balance_sats: int) -> NodeRecord:
        """A new funded node; its ``admin.macaroon`` is written under ``nodes_dir/alias``."""
        if not ALIAS_PATTERN.fullmatch(alias):
            raise ControlError(400, "alias must match [a-z0-9][a-z0-9_-]{0,31}")
        if not 0 <= balance_sats <= MAX_BALANCE_SATS:
            raise ControlError(400, f"balance_sats must be between 0 and {MAX_BALANCE_SATS}")
        key = PrivateKey()
        node = NodeRecord(
            alias=alias,
            secret=key.secret,
            pubkey=key.public_key.format(compressed=True),
            macaroon=mint_macaroon(),
            balance_msat=balance_sats * 1000,
            online=True,
            fail_next_reason=None,
            created_at=int(self._clock()),
        )
        with self._store.transaction():
            if self._store.node(alias) is not None:
                raise ControlError(409, f"node {alias!r} already exists")
            self._store.save_node(node)
        self.write_credentials(node)
        return node

    def ensure_node(self, alias: str, balance_sats: int) -> NodeRecord:
        """The node ``alias``, created with ``balance_sats`` when missing."""
        existing = self._store.node(alias)
        return existing if existing is not None else self.create_node(alias, balance_sats)

    def write_credentials(self, node: NodeRecord) -> None:
        path = self.macaroon_path(node.alias)
        if not path.exists() or path.read_bytes() != node.macaroon:
            write_private(path, node.macaroon)

    def macaroon_path(self, alias: str) -> Path:
        return self.nodes_dir / alias / MACAROON_FILE

    def node(self, alias: str) -> NodeRecord:
        node = self._store.node(alias)
        if node is None:
            raise ControlError(404, f"no node {alias!r}")
        return node

    def nodes(self) -> list[NodeRecord]:
        return self._store.nodes()

    def set_online(self, alias: str, online: bool) -> NodeRecord:
        """Take a node off the network (its API answers 503, its streams end) or back."""
        with self._store.transaction():
            node = dataclasses.replace(self.node(alias), online=online)
            self._store.save_node(node)
        if not online:
            self._hub.close_node(alias)
        return node

    def fail_next_payment(self, alias: str, reason: str) -> NodeRecord:
        """Make the node's next payment fail with ``reason`` (a FAILURE_REASON_* name)."""
        if reason not in FAILURE_REASONS:
            raise ControlError(400, f"reason must be one of {', '.join(FAILURE_REASONS)}")
        with self._store.transaction():
            node = dataclasses.replace(self.node(alias), fail_next_reason=reason)
            self._store.save_node(node)
        return node

    def authorize(self, alias: str, macaroon_hex: str | None) -> NodeRecord:
        """The node addressed by an LND API call, if it is up and the macaroon is its own."""
        node = self._store.node(alias)
        if node is None:
            raise LndError(GRPC_NOT_FOUND, f"no devnet node {alias!r}")
        if not node.online:
            raise LndError(GRPC_UNAVAILABLE, f"node {alias} is offline")
        if not macaroon_hex:
            raise LndError(GRPC_UNKNOWN, "expected 1 macaroon, got 0")
        try:
            given = bytes.fromhex(macaroon_hex)
        except ValueError:
            raise LndError(GRPC_UNKNOWN, "unable to decode macaroon: not hex") from None
        if not hmac.compare_digest(given, node.macaroon):
            raise LndError(
                GRPC_UNKNOWN, "verification failed: signature mismatch after caveat verification"
            )
        return node

    def balance(self, alias: str) -> Balance:
        node = self.node(alias)
        return Balance(
            local_msat=node.balance_msat,
            unsettled_local_msat=self._store.held_outgoing_msat(alias),
            unsettled_remote_msat=self._store.held_incoming_msat(alias),
        )

    # -- invoices ---------------------------------------------------------------------------

    def add_invoice(
        self,
        node: NodeRecord,
        *,
        value_msat: int,
        memo: str,
        expiry_secs: int,
        cltv_expiry: int,
        hold_hash: bytes | None = None,
        preimage: bytes | None = None,
    ) -> InvoiceRecord:
        """A plain invoice (``preimage`` given or random), or a hold invoice for ``hold_hash``."""
        if hold_hash is None:
            preimage = preimage or os.urandom(32)
            r_hash = hashlib.sha256(preimage).digest()
        else:
            r_hash, preimage = hold_hash, None
        for value, size in ((r_hash, 32), (preimage, 32)):
            if value is not None and len(value) != size:
                raise LndError(GRPC_UNKNOWN, f"payment hash and preimage must be {size} bytes")
        if not 0 <= value_msat <= MAX_MONEY_MSAT:
            raise LndError(GRPC_INVALID_ARGUMENT, "amount must be within 0 and 21M BTC")
        if len(memo.encode()) > MAX_MEMO_BYTES:
            raise LndError(GRPC_UNKNOWN, f"memo too large: max is {MAX_MEMO_BYTES} bytes")
        expiry = expiry_secs or DEFAULT_EXPIRY_SECS
        if not 0 < expiry <= MAX_EXPIRY_SECS:
            raise LndError(GRPC_UNKNOWN, f"expiry of {expiry} seconds is out of range")
        cltv = cltv_expiry or DEFAULT_CLTV_EXPIRY
        if not 0 < cltv <= MAX_CLTV_EXPIRY:
            raise LndError(GRPC_UNKNOWN, f"CLTV expiry of {cltv} blocks is out of range")
        now = int(self._clock())
        payment_addr = os.urandom(32)
        payment_request = encode_invoice(
            node.secret,
            currency=CURRENCY,
            payment_hash=r_hash,
            payment_secret=payment_addr,
            amount_msat=value_msat or None,
            description=memo,
            created_at=now,
            expiry_secs=expiry,
            cltv_expiry=cltv,
        )
        with self._store.transaction():
            if self._store.invoice(node.alias, r_hash) is not None:
                raise LndError(GRPC_UNKNOWN, "invoice with payment hash already exists")
            invoice = InvoiceRecord(
                node=node.alias,
                r_hash=r_hash,
                r_preimage=preimage,
                is_hold=hold_hash is not None,
                payment_addr=payment_addr,
                memo=memo,
                value_msat=value_msat,
                amt_paid_msat=0,
                state="OPEN",
                payment_request=payment_request,
                creation_date=now,
                expiry=expiry,
                expires_at=now + expiry,
                cltv_expiry=cltv,
                add_index=self._store.next_add_index(node.alias),
            )
            self._store.save_invoice(invoice)
        self._hub.invoice_changed(invoice)
        return invoice

    def lookup_invoice(self, node: NodeRecord, r_hash: bytes) -> InvoiceRecord:
        invoice = self._store.invoice(node.alias, r_hash)
        if invoice is None:
            raise LndError(GRPC_NOT_FOUND, "unable to locate invoice")
        return invoice

    def invoices_added_after(self, node: NodeRecord, add_index: int) -> list[InvoiceRecord]:
        return self._store.invoices_added_after(node.alias, add_index)

    def invoices_settled_after(self, node: NodeRecord, settle_index: int) -> list[InvoiceRecord]:
        return self._store.invoices_settled_after(node.alias, settle_index)

    def settle_invoice(self, node: NodeRecord, preimage: bytes) -> None:
        """Settle an accepted hold invoice: the receiver is paid, the payer's payment succeeds."""
        r_hash = hashlib.sha256(preimage).digest()
        with self._store.transaction():
            invoice = self._store.invoice(node.alias, r_hash)
            if invoice is None:
                raise LndError(GRPC_UNKNOWN, "unable to locate invoice")
            if invoice.state == "SETTLED":
                return
            if invoice.state == "CANCELED":
                raise LndError(GRPC_UNKNOWN, "invoice already canceled")
            if invoice.state == "OPEN":
                raise LndError(GRPC_UNKNOWN, "invoice still open")
            now = int(self._clock())
            settled = dataclasses.replace(
                invoice,
                state="SETTLED",
                r_preimage=preimage,
                settle_index=self._store.next_settle_index(node.alias),
                settle_date=now,
                resolve_time=now,
            )
            self._store.save_invoice(settled)
            self._adjust_balance(node.alias, settled.amt_paid_msat)
            payments = [
                dataclasses.replace(
                    payment,
                    status="SUCCEEDED",
                    htlc_status="SUCCEEDED",
                    preimage=preimage,
                    resolve_time_ns=time.time_ns(),
                )
                for payment in self._store.in_flight_payments_to(node.alias, r_hash)
            ]
            for payment in payments:
                self._store.save_payment(payment)
        self._hub.invoice_changed(settled)
        for payment in payments:
            self._hub.payment_changed(payment)

    def cancel_invoice(self, node: NodeRecord, r_hash: bytes) -> None:
        """Cancel an open or accepted invoice; a held payment fails and its payer is refunded."""
        with self._store.transaction():
            invoice = self._store.invoice(node.alias, r_hash)
            if invoice is None:
                raise LndError(GRPC_UNKNOWN, "unable to locate invoice")
            if invoice.state == "SETTLED":
                raise LndError(GRPC_UNKNOWN, "invoice already settled")
            if invoice.state == "CANCELED":
                return
            canceled, payments = self._cancel(invoice)
        self._publish(canceled, payments)

    def expire_invoices(self) -> int:
        """Cancel every open or accepted invoice past its expiry; returns how many."""
        due = self._store.live_invoices_expired_by(int(self._clock()))
        if not due:
            return 0
        changes = []
        with self._store.transaction():
            for invoice in due:
                changes.append(self._cancel(invoice))
        for canceled, payments in changes:
            self._publish(canceled, payments)
        return len(changes)

    def _cancel(self, invoice: InvoiceRecord) -> tuple[InvoiceRecord, list[PaymentRecord]]:
        """Inside a transaction: cancel ``invoice`` and fail back its held payments."""
        now = int(self._clock())
        canceled = dataclasses.replace(
            invoice, state="CANCELED", resolve_time=now if invoice.state == "ACCEPTED" else 0
        )
        self._store.save_invoice(canceled)
        payments = []
        for payment in self._store.in_flight_payments_to(invoice.node, invoice.r_hash):
            self._adjust_balance(payment.node, payment.value_msat + payment.fee_msat)
            failed = dataclasses.replace(
                payment,
                status="FAILED",
                htlc_status="FAILED",
                failure_reason=INCORRECT_PAYMENT_DETAILS,
                fee_msat=0,
                resolve_time_ns=time.time_ns(),
            )
            self._store.save_payment(failed)
            payments.append(failed)
        return canceled, payments

    # -- payments ---------------------------------------------------------------------------

    def send_payment(self, payer_alias: str, order: PaymentOrder) -> PaymentRecord:
        """Pay ``order``; refusals raise LndError, outcomes are in the returned payment."""
        for value in (order.amount_msat, order.fee_limit_msat):
            if not 0 <= value <= MAX_MONEY_MSAT:
                raise LndError(GRPC_INVALID_ARGUMENT, "amounts must be within 0 and 21M BTC")
        payment_hash, payee, amount, final_cltv = self._payable(order)
        updates: list[PaymentRecord] = []
        invoice_update: InvoiceRecord | None = None
        with self._store.transaction():
            payer = self.node(payer_alias)
            existing = self._store.payment(payer.alias, payment_hash)
            if existing is not None and existing.status in ("INITIATED", "IN_FLIGHT"):
                raise LndError(GRPC_UNKNOWN, "payment is in transition")
            if existing is not None and existing.status == "SUCCEEDED":
                raise LndError(GRPC_UNKNOWN, "invoice is already paid")
            receiver = self._store.node_by_pubkey(payee)
            to_self = receiver is not None and receiver.alias == payer.alias
            fee = 0 if to_self else self._fees.fee_msat(amount)
            initiated = PaymentRecord(
                node=payer.alias,
                payment_hash=payment_hash,
                payment_index=self._store.next_payment_index(payer.alias),
                payment_request=order.payment_request,
                dest=None if receiver is None else receiver.alias,
                value_msat=amount,
                fee_msat=fee,
                status="INITIATED",
                failure_reason=NO_FAILURE,
                preimage=None,
                htlc_status=None,
                creation_time_ns=time.time_ns(),
            )
            failure = self._route_failure(payer, receiver, order, amount, fee, final_cltv)
            if payer.fail_next_reason is not None:
                self._store.save_node(dataclasses.replace(payer, fail_next_reason=None))
            if failure is not None or receiver is None:
                updates = [initiated, _failed(initiated, failure or NO_ROUTE)]
            else:
                sent = dataclasses.replace(initiated, status="IN_FLIGHT", htlc_status="IN_FLIGHT")
                invoice = self._store.invoice(receiver.alias, payment_hash)
                if not self._accepts(invoice, amount):
                    updates = [sent, _failed(sent, INCORRECT_PAYMENT_DETAILS)]
                else:
                    assert invoice is not None
                    self._adjust_balance(payer.alias, -(amount + fee))
                    invoice_update, outcome = self._deliver(invoice, sent, amount)
                    updates = [sent] if outcome is None else [sent, outcome]
            self._store.save_payment(updates[-1])
        for update in updates:
            self._hub.payment_changed(update)
        if invoice_update is not None:
            self._hub.invoice_changed(invoice_update)
        return updates[-1]

    def payments(self, node: NodeRecord, index_offset: int, limit: int) -> list[PaymentRecord]:
        """The node's payments after ``index_offset``, oldest first (``ListPayments``)."""
        return self._store.payments_after(node.alias, index_offset, limit)

    def payment(self, node: NodeRecord, payment_hash: bytes) -> PaymentRecord:
        payment = self._store.payment(node.alias, payment_hash)
        if payment is None:
            raise LndError(GRPC_NOT_FOUND, "payment isn't initiated")
        return payment

    def _payable(self, order: PaymentOrder) -> tuple[bytes, bytes, int, int]:
        """Payment hash, payee, amount and final CLTV delta of ``order``, or LND's refusal."""
        try:
            decoded = decode_invoice(order.payment_request)
        except InvalidInvoiceError as exc:
            raise LndError(GRPC_UNKNOWN, f"unable to decode payment request: {exc}") from None
        if decoded.network != "regtest":
            raise LndError(GRPC_UNKNOWN, "invoice not for current active network 'regtest'")
        if decoded.is_expired(self._clock()):
            valid_until = datetime.datetime.fromtimestamp(decoded.expires_at, datetime.UTC)
            raise LndError(GRPC_UNKNOWN, f"invoice expired. Valid until {valid_until}")
        if decoded.amount_msat is not None:
            if order.amount_msat:
                raise LndError(
                    GRPC_UNKNOWN,
                    "amount must not be specified when paying a non-zero amount invoice",
                )
            return (
                decoded.payment_hash,
                decoded.payee,
                decoded.amount_msat,
                decoded.min_final_cltv_expiry,
            )
        if order.amount_msat <= 0:
            raise LndError(
                GRPC_UNKNOWN, "amount must be specified when paying a zero amount invoice"
            )
        return (
            decoded.payment_hash,
            decoded.payee,
            order.amount_msat,
            decoded.min_final_cltv_expiry,
        )

    def _route_failure(
        self,
        payer: NodeRecord,
        receiver: NodeRecord | None,
        order: PaymentOrder,
        amount_msat: int,
        fee_msat: int,
        final_cltv: int,
    ) -> str | None:
        """Why the payment cannot even be sent, if it cannot."""
        if payer.fail_next_reason is not None:
            return payer.fail_next_reason
        if order.cltv_limit and final_cltv > order.cltv_limit:
            return NO_ROUTE  # as LND: no route within the time-lock limit
        if receiver is None or not receiver.online:
            return NO_ROUTE
        if receiver.alias == payer.alias and not order.allow_self_payment:
            return NO_ROUTE
        if fee_msat > order.fee_limit_msat:
            return NO_ROUTE  # as LND: no route within the fee limit
        if payer.balance_msat < amount_msat + fee_msat:
            return INSUFFICIENT_BALANCE
        if receiver.balance_msat + amount_msat > MAX_MONEY_MSAT:
            return NO_ROUTE  # no channel of the receiver has room for it
        return None

    def _accepts(self, invoice: InvoiceRecord | None, amount_msat: int) -> bool:
        """Whether the receiver takes an HTLC of ``amount_msat`` for ``invoice``."""
        return (
            invoice is not None
            and invoice.state == "OPEN"
            and invoice.expires_at > self._clock()
            and amount_msat >= invoice.value_msat
        )

    def _deliver(
        self, invoice: InvoiceRecord, sent: PaymentRecord, amount_msat: int
    ) -> tuple[InvoiceRecord, PaymentRecord | None]:
        """Inside a transaction: hand the HTLC to the receiver. A hold invoice keeps it (no
        outcome yet); a plain invoice settles and the payment succeeds."""
        now = int(self._clock())
        if invoice.is_hold:
            accepted = dataclasses.replace(
                invoice, state="ACCEPTED", amt_paid_msat=amount_msat, accept_time=now
            )
            self._store.save_invoice(accepted)
            return accepted, None
        settled = dataclasses.replace(
            invoice,
            state="SETTLED",
            amt_paid_msat=amount_msat,
            settle_index=self._store.next_settle_index(invoice.node),
            settle_date=now,
            accept_time=now,
            resolve_time=now,
        )
        self._store.save_invoice(settled)
        self._adjust_balance(invoice.node, amount_msat)
        succeeded = dataclasses.replace(
            sent,
            status="SUCCEEDED",
            htlc_status="SUCCEEDED",
            preimage=invoice.r_preimage,
            resolve_time_ns=time.time_ns(),
        )
        return settled, succeeded

    def _adjust_balance(self, alias: str, delta_msat: int) -> None:
        node = self.node(alias)
        balance = node.balance_msat + delta_msat
        if balance < 0:
            raise AssertionError(f"balance of {alias} would become negative")
        if balance > MAX_MONEY_MSAT:
            raise LndError(GRPC_UNKNOWN, f"balance of {alias} would exceed 21M BTC")
        self._store.save_node(dataclasses.replace(node, balance_msat=balance))

    def _publish(self, invoice: InvoiceRecord, payments: list[PaymentRecord]) -> None:
        self._hub.invoice_changed(invoice)
        for payment in payments:
            self._hub.payment_changed(payment)


def _failed(payment: PaymentRecord, reason: str) -> PaymentRecord:
    return dataclasses.replace(
        payment,
        status="FAILED",
        failure_reason=reason,
        fee_msat=0,
        htlc_status="FAILED" if payment.htlc_status else None,
        resolve_time_ns=time.time_ns(),
    )
