"""The wallet's taproot descriptors, derived from the coordinator's secret key.

The root extended key has depth 0, parent fingerprint 0 and child number 0, and its private key
is the coordinator's secret (as in the Rust coordinator). Its **chain code differs**: upstream
used the secret key bytes themselves as the chain code, so the wallet's extended *public* key
(which BDK shows in ``public_descriptor`` and which a watch-only setup would be given) contained
the private key. Here the chain code is a tagged hash of the secret, which the public key cannot
be used to recover. A consequence: the addresses differ from an upstream wallet with the same
key, so funds held by an upstream deployment must be swept to this wallet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from embit import base58

from ticketdlc.crypto.secp import tagged_hash

CHAIN_CODE_TAG: Final = "ForecastCoordinator/wallet-chain-code"
_XPRV_VERSION: Final = {"bitcoin": bytes.fromhex("0488ade4")}
_TPRV_VERSION: Final = bytes.fromhex("04358394")


@dataclass(frozen=True)
class WalletDescriptors:
    """External (receive) and internal (change) descriptors, with private keys."""

    external: str
    internal: str


def root_xprv(secret: bytes, network: str) -> str:
    """Base58 extended private key (``xprv`` on mainnet, ``tprv`` elsewhere) of ``secret``."""
    if len(secret) != 32:
        raise ValueError("the wallet secret is 32 bytes")
    version = _XPRV_VERSION.get(network, _TPRV_VERSION)
    chain_code = tagged_hash(CHAIN_CODE_TAG, secret)
    payload = version + bytes(1) + bytes(4) + bytes(4) + chain_code + b"\x00" + secret
    encoded: str = base58.encode_check(payload)
    return encoded


def wallet_descriptors(secret: bytes, network: str) -> WalletDescriptors:
    """``tr(<root>/0/*)`` and ``tr(<root>/1/*)`` (BDK adds the checksums)."""
    root = root_xprv(secret, network)
    return WalletDescriptors(external=f"tr({root}/0/*)", internal=f"tr({root}/1/*)")
