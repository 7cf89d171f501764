"""BOLT11 payment requests signed by a devnet node's key (with the ``bolt11`` package)."""

from __future__ import annotations

import bolt11
from bolt11.models.features import Feature

from coordinator_core.bolt11 import hrp_amount

#: Final CLTV delta LND puts in invoices by default.
DEFAULT_CLTV_EXPIRY = 80


def encode_invoice(
    node_secret: bytes,
    *,
    currency: str,
    payment_hash: bytes,
    payment_secret: bytes,
    amount_msat: int | None,
    description: str,
    created_at: int,
    expiry_secs: int,
    cltv_expiry: int = DEFAULT_CLTV_EXPIRY,
) -> str:
    """A signed BOLT11 string (``currency`` is the prefix: ``bcrt``, ``bc``, ``tb``, ``tbs``)."""
    tags = bolt11.Tags()
    tags.add(bolt11.TagChar.payment_hash, payment_hash.hex())
    tags.add(bolt11.TagChar.payment_secret, payment_secret.hex())
    tags.add(bolt11.TagChar.description, description)
    tags.add(bolt11.TagChar.expire_time, expiry_secs)
    tags.add(bolt11.TagChar.min_final_cltv_expiry, cltv_expiry)
    tags.add(
        bolt11.TagChar.features,
        bolt11.Features.from_feature_list(
            {
                Feature.var_onion_optin: bolt11.FeatureState.required,
                Feature.payment_secret: bolt11.FeatureState.required,
            }
        ),
    )
    # The package's amount encoder drops a factor of 1000 for whole multiples of 1000 BTC, so
    # the amount goes into the prefix here (the package writes ``ln`` + currency + amount).
    prefix = currency if amount_msat is None else currency + hrp_amount(amount_msat)
    invoice = bolt11.Bolt11(currency=prefix, date=created_at, amount_msat=None, tags=tags)
    return str(bolt11.encode(invoice, node_secret.hex()))
