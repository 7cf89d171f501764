"""BOLT11 payment requests: decoding with signature verification, and checks before paying.

Decoding uses the ``bolt11`` package, which verifies the signature against the ``n`` (payee)
field when present and otherwise recovers the payee key from the signature (libsecp256k1 via
coincurve). :func:`check_invoice` is what a payer runs before any payment is attempted: the
invoice must be for the expected network, not (nearly) expired, and for the expected amount.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

import bolt11

from coordinator_core.errors import ValidationError
from coordinator_core.validation import MAX_MONEY_MSAT, MAX_UINT32

BitcoinNetwork = Literal["bitcoin", "testnet", "signet", "regtest"]

#: BOLT11 human-readable prefix (after ``ln``) of each network.
NETWORK_CURRENCY: dict[BitcoinNetwork, str] = {
    "bitcoin": "bc",
    "testnet": "tb",
    "signet": "tbs",
    "regtest": "bcrt",
}
_CURRENCY_NETWORK: dict[str, BitcoinNetwork] = {v: k for k, v in NETWORK_CURRENCY.items()}

#: Longer strings are refused before parsing (real invoices are well under 2,000 characters).
MAX_PAYMENT_REQUEST_CHARS = 4096

# BOLT11 human-readable part: ``ln`` + currency + optional amount, where the amount is a
# positive decimal without leading zeros and an optional multiplier. Matched whole, and before
# the ``bolt11`` package sees the string: it matches only a prefix and so reads ``-1m`` as no
# amount and ``1.5m`` as ``1``.
_HRP: Final = re.compile(r"ln(bcrt|bc|tbs|tb)(?:([1-9][0-9]{0,24})([munp]?))?")
#: Millisatoshis per unit of amount, by multiplier (``p`` is a tenth of a msat).
_MSAT_PER_UNIT: Final = {"": 10**11, "m": 10**8, "u": 10**5, "n": 10**2}


class InvalidInvoiceError(ValidationError):
    """A payment request is malformed, badly signed, or not payable as asked."""

    code = "invalid_invoice"


@dataclass(frozen=True)
class DecodedInvoice:
    """The fields of a BOLT11 payment request the coordinator relies on."""

    payment_request: str
    network: BitcoinNetwork
    payment_hash: bytes
    payment_secret: bytes
    payee: bytes  # 33-byte compressed public key of the node that signed the invoice
    amount_msat: int | None  # None for a zero-amount invoice
    created_at: int  # unix seconds
    expiry_secs: int
    min_final_cltv_expiry: int
    description: str | None

    @property
    def expires_at(self) -> int:
        """Unix time after which the invoice must not be paid."""
        return self.created_at + self.expiry_secs

    def is_expired(self, now: float, margin_secs: float = 0.0) -> bool:
        """True when less than ``margin_secs`` of validity remain at ``now``."""
        return now + margin_secs >= self.expires_at


def decode_invoice(payment_request: str) -> DecodedInvoice:
    """Decode and signature-check ``payment_request``; raises :class:`InvalidInvoiceError`."""
    if not isinstance(payment_request, str):
        raise InvalidInvoiceError("payment request must be a string")
    text = payment_request.strip()
    if not text:
        raise InvalidInvoiceError("payment request is empty")
    if len(text) > MAX_PAYMENT_REQUEST_CHARS:
        raise InvalidInvoiceError(f"payment request longer than {MAX_PAYMENT_REQUEST_CHARS} chars")
    if text != text.lower() and text != text.upper():
        raise InvalidInvoiceError("payment request mixes upper and lower case")
    amount = hrp_amount_msat(text)
    try:
        # The library raises many exception types on malformed input (its own, ValueError,
        # bitstring errors, coincurve errors); every one of them means "not a valid invoice".
        parsed = bolt11.decode(text)
    except Exception as exc:
        raise InvalidInvoiceError(f"invalid BOLT11 payment request: {_reason(exc)}") from exc
    if parsed.amount_msat is not None and int(parsed.amount_msat) != amount:
        raise InvalidInvoiceError("invoice amount is ambiguous")
    return _decoded(text, parsed, amount)


def hrp_amount_msat(payment_request: str) -> int | None:
    """The amount in the human-readable part of a payment request, in msat (None: no amount).

    Enforces BOLT11's grammar on the whole prefix and refuses amounts above the money supply.
    """
    lowered = payment_request.lower()
    hrp, separator, _ = lowered.rpartition("1")
    match = _HRP.fullmatch(hrp) if separator else None
    if match is None:
        raise InvalidInvoiceError("invalid BOLT11 prefix: expected ln<currency>[<amount>]")
    digits, multiplier = match.group(2), match.group(3)
    if digits is None:
        return None
    if multiplier == "p":
        if not digits.endswith("0"):
            raise InvalidInvoiceError("a pico amount must be a whole number of millisatoshis")
        msat = int(digits) // 10
    else:
        msat = int(digits) * _MSAT_PER_UNIT[multiplier]
    if msat > MAX_MONEY_MSAT:
        raise InvalidInvoiceError("invoice amount exceeds the bitcoin money supply")
    return msat


def hrp_amount(amount_msat: int) -> str:
    """The shortest BOLT11 amount for ``amount_msat`` (positive, at most the money supply)."""
    if not 0 < amount_msat <= MAX_MONEY_MSAT:
        raise InvalidInvoiceError("invoice amount must be positive and within the money supply")
    for multiplier, unit in _MSAT_PER_UNIT.items():
        if amount_msat % unit == 0:
            return f"{amount_msat // unit}{multiplier}"
    return f"{amount_msat * 10}p"


def check_invoice(
    invoice: DecodedInvoice,
    *,
    network: BitcoinNetwork,
    amount_msat: int | None,
    now: float,
    min_remaining_secs: float = 0.0,
) -> int:
    """Check ``invoice`` is payable as asked; returns the amount to pay in msat.

    ``amount_msat`` is what the payer means to pay: it must equal the invoice amount when the
    invoice has one, and is required for a zero-amount invoice.
    """
    if invoice.network != network:
        raise InvalidInvoiceError(f"invoice is for {invoice.network}, expected {network}")
    if invoice.is_expired(now, min_remaining_secs):
        raise InvalidInvoiceError(f"invoice expired (valid until unix time {invoice.expires_at})")
    if amount_msat is not None and not 0 < amount_msat <= MAX_MONEY_MSAT:
        raise InvalidInvoiceError("amount to pay must be positive and within the money supply")
    if invoice.amount_msat is None:
        if amount_msat is None:
            raise InvalidInvoiceError("zero-amount invoice: an amount to pay is required")
        return amount_msat
    if amount_msat is not None and amount_msat != invoice.amount_msat:
        raise InvalidInvoiceError(
            f"invoice amount {invoice.amount_msat} msat differs from expected {amount_msat} msat"
        )
    return invoice.amount_msat


def _decoded(text: str, parsed: bolt11.Bolt11, amount: int | None) -> DecodedInvoice:
    network = _CURRENCY_NETWORK.get(parsed.currency)
    if network is None:
        raise InvalidInvoiceError(f"unknown invoice currency {parsed.currency!r}")
    payment_hash = _tag_bytes(parsed, bolt11.TagChar.payment_hash, 32)
    payment_secret = _tag_bytes(parsed, bolt11.TagChar.payment_secret, 32)
    payee = _tag_bytes(parsed, bolt11.TagChar.payee, 33)
    cltv_tag = parsed.tags.get(bolt11.TagChar.min_final_cltv_expiry)
    expiry = int(parsed.expiry)
    if not 0 <= expiry <= MAX_UINT32:
        raise InvalidInvoiceError("invoice expiry is out of range")
    # BOLT11: 18 blocks when the field is absent.
    cltv = int(cltv_tag.data) if cltv_tag is not None else 18
    if not 0 <= cltv <= MAX_UINT32:
        raise InvalidInvoiceError("invoice min_final_cltv_expiry is out of range")
    return DecodedInvoice(
        payment_request=text,
        network=network,
        payment_hash=payment_hash,
        payment_secret=payment_secret,
        payee=payee,
        amount_msat=amount,
        created_at=int(parsed.date),
        expiry_secs=expiry,
        min_final_cltv_expiry=cltv,
        description=parsed.description,
    )


def _tag_bytes(parsed: bolt11.Bolt11, char: bolt11.TagChar, size: int) -> bytes:
    tag = parsed.tags.get(char)
    if tag is None:
        raise InvalidInvoiceError(f"invoice has no {char.name}")
    try:
        value = bytes.fromhex(str(tag.data))
    except ValueError as exc:
        raise InvalidInvoiceError(f"invoice {char.name} is not hex") from exc
    if len(value) != size:
        raise InvalidInvoiceError(f"invoice {char.name} must be {size} bytes")
    return value


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
