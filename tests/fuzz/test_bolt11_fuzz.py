"""BOLT11 decoding against its grammar: valid invoices round-trip, anything else is refused with
:class:`InvalidInvoiceError` and nothing else."""

from __future__ import annotations

import dataclasses
import os
import re
from decimal import Decimal

from coincurve import PrivateKey
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coordinator_core.bolt11 import (
    NETWORK_CURRENCY,
    InvalidInvoiceError,
    decode_invoice,
    hrp_amount,
    hrp_amount_msat,
)
from coordinator_core.validation import MAX_MONEY_MSAT
from devnet.lightning.invoices import encode_invoice
from tests.fuzz.budget import examples
from tests.fuzz.mutations import mutated_text

BECH32_CHARS = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
#: Multipliers in BTC (BOLT11), as an independent reading of the grammar.
BTC_PER_UNIT = {"": Decimal(1), "m": Decimal("0.001"), "u": Decimal("0.000001"),
                "n": Decimal("0.000000001"), "p": Decimal("0.000000000001")}  # fmt: skip
MSAT_PER_BTC = Decimal(10**11)

amounts = st.one_of(
    st.none(),
    st.integers(1, MAX_MONEY_MSAT),
    st.sampled_from([1, 10, 999, 1000, 10**5, 10**8, 10**11, MAX_MONEY_MSAT]),
)


def invoice(
    secret: bytes,
    currency: str,
    amount_msat: int | None,
    *,
    payment_hash: bytes | None = None,
    description: str = "fuzz",
    expiry: int = 3600,
    cltv: int = 80,
    created_at: int = 1_700_000_000,
) -> str:
    return encode_invoice(
        secret,
        currency=currency,
        payment_hash=payment_hash or os.urandom(32),
        payment_secret=os.urandom(32),
        amount_msat=amount_msat,
        description=description,
        created_at=created_at,
        expiry_secs=expiry,
        cltv_expiry=cltv,
    )


def expected_amount(part: str) -> int | InvalidInvoiceError | None:
    """What BOLT11 says the amount part ``part`` means (an error if it is not allowed)."""
    if part == "":
        return None
    match = re.fullmatch(r"([1-9][0-9]*)([munp]?)", part)
    if match is None:
        return InvalidInvoiceError("grammar")
    msat = Decimal(match.group(1)) * BTC_PER_UNIT[match.group(2)] * MSAT_PER_BTC
    if msat != msat.to_integral_value() or msat > MAX_MONEY_MSAT:
        return InvalidInvoiceError("value")
    return int(msat)


@settings(max_examples=examples(60), deadline=None)
@given(
    amount=amounts,
    currency=st.sampled_from(sorted(NETWORK_CURRENCY.values())),
    description=st.text(max_size=80),
    expiry=st.integers(1, 365 * 24 * 3600),
    cltv=st.integers(1, 2**16 - 1),
    created_at=st.integers(0, 2**35 - 1),
)
def test_valid_invoices_round_trip(
    amount: int | None,
    currency: str,
    description: str,
    expiry: int,
    cltv: int,
    created_at: int,
) -> None:
    key = PrivateKey()
    payment_hash = os.urandom(32)
    text = invoice(
        key.secret,
        currency,
        amount,
        payment_hash=payment_hash,
        description=description,
        expiry=expiry,
        cltv=cltv,
        created_at=created_at,
    )
    decoded = decode_invoice(text)
    assert (NETWORK_CURRENCY[decoded.network], decoded.amount_msat) == (currency, amount)
    assert decoded.payment_hash == payment_hash
    assert decoded.payee == key.public_key.format()
    assert (decoded.created_at, decoded.expiry_secs) == (created_at, expiry)
    assert (decoded.min_final_cltv_expiry, decoded.description) == (cltv, description)
    upper = text.upper()
    assert decode_invoice(upper) == dataclasses.replace(decoded, payment_request=upper)
    if amount is not None:
        assert hrp_amount_msat(f"ln{currency}{hrp_amount(amount)}1qq") == amount


@settings(max_examples=examples(120), deadline=None)
@given(part=st.text(alphabet="0123456789munpx.-+_ ", max_size=24))
@example(part="-1m")
@example(part="1.5m")
@example(part="00001m")
@example(part="11p")
@example(part="10p")
@example(part="21000001")
@example(part="21000000")
def test_amount_prefix_follows_the_grammar(part: str) -> None:
    text = invoice(PrivateKey().secret, "bcrt" + part, None)
    wanted = expected_amount(part)
    if isinstance(wanted, InvalidInvoiceError):
        try:
            decode_invoice(text)
        except InvalidInvoiceError:
            return
        raise AssertionError(f"lnbcrt{part}… was accepted")
    assert decode_invoice(text).amount_msat == wanted


VALID = invoice(bytes.fromhex("55" * 32), "bcrt", 150_000)


@settings(max_examples=examples(200), deadline=None)
@given(text=st.one_of(
    mutated_text(VALID, BECH32_CHARS + "1lnbcrtmunp"),
    mutated_text(VALID),
    st.text(max_size=200),
))  # fmt: skip
def test_mutated_invoices_are_refused_with_the_invoice_error(text: str) -> None:
    try:
        decoded = decode_invoice(text)
    except InvalidInvoiceError:
        return
    # Only a change bech32 and the signature both allow survives: the case of the whole string.
    assert decoded.payment_request.lower() == VALID
