"""Correctly signed BOLT11 invoices that are wrong in one chosen way (amount part, network,
expiry), for tests that must be refused by the amount or payability check rather than by
bech32 or the signature."""

from __future__ import annotations

import os
import time

from coincurve import PrivateKey, PublicKey

from devnet.lightning.invoices import DEFAULT_CLTV_EXPIRY, encode_invoice
from ticketdlc.bitcoin.address import CHARSET, Encoding, _convert_bits, _hrp_expand, _polymod

#: Amount parts outside BOLT11's grammar, as first found (a sign, a decimal point, leading
#: zeros, a pico amount that is not a whole msat), then amounts above the money supply
#: (210,000,001 and 21,000,001 BTC; 21 M BTC + 1 msat and + 10 pico written in pico).
MALFORMED_AMOUNTS = ["-1m", "1.5m", "00001m", "11p", "210000001", "2100000000000000001p0",
                     "21000001", "21000000000000000010p"]  # fmt: skip


def signed_invoice(
    amount_part: str = "",
    *,
    currency: str = "bcrt",
    payment_hash: bytes | None = None,
    created_at: int | None = None,
    expiry_secs: int = 3600,
    cltv_expiry: int = DEFAULT_CLTV_EXPIRY,
    secret: bytes | None = None,
) -> str:
    """An invoice signed by ``secret`` (a fresh key if none) whose human-readable part is
    ``ln<currency><amount_part>``, written as given (the amount part is not checked)."""
    return encode_invoice(
        secret or PrivateKey().secret,
        currency=currency + amount_part,  # the package writes "ln" + currency as the prefix
        payment_hash=payment_hash or os.urandom(32),
        payment_secret=os.urandom(32),
        amount_msat=None,
        description="hostile",
        created_at=int(time.time()) if created_at is None else created_at,
        expiry_secs=expiry_secs,
        cltv_expiry=cltv_expiry,
    )


def signer_of(payment_request: str) -> bytes:
    """The key that signed ``payment_request``, read without interpreting its amount: the
    bech32 checksum is verified and the public key recovered from the signature (BOLT11: over
    SHA-256 of the human-readable part and the data before the 104-word signature)."""
    hrp, _, rest = payment_request.lower().rpartition("1")
    words = [CHARSET.index(char) for char in rest]
    if _polymod(_hrp_expand(hrp) + words) != Encoding.BECH32.value:
        raise ValueError("invalid bech32 checksum")
    data, signature = words[:-6][:-104], words[:-6][-104:]
    signed = hrp.encode() + bytes(_convert_bits(data, 5, 8, True))
    recoverable = bytes(_convert_bits(signature, 5, 8, False))
    return PublicKey.from_signature_and_message(recoverable, signed).format()
