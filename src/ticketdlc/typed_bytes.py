"""Distinct types for the byte strings and ids that cross module boundaries.

They are ``NewType``s (no run-time cost): a function that returns one promises its size and
meaning, and a parameter typed with one tells ``mypy`` to refuse, say, a compressed key where an
x-only key belongs.

A transaction id outside transaction serialization is always a :data:`Txid`: the 64-character
display-order hex string that block explorers, Esplora, BDK and the databases use. Inside
``ticketdlc.bitcoin.tx`` (outpoints, serialization) it is 32 bytes in internal order.
"""

from __future__ import annotations

from typing import NewType

XOnlyPubkey = NewType("XOnlyPubkey", bytes)
"""A 32-byte BIP-340 x-only public key."""

CompressedPubkey = NewType("CompressedPubkey", bytes)
"""A 33-byte compressed secp256k1 public key (SEC1, 02/03 prefix)."""

SecretKey = NewType("SecretKey", bytes)
"""A 32-byte secp256k1 secret key in ``[1, n-1]``."""

Txid = NewType("Txid", str)
"""A transaction id in display order: 64 lowercase hex characters."""

_HEX = frozenset("0123456789abcdef")


def txid(text: str) -> Txid:
    """``text`` as a :data:`Txid`; raises ``ValueError`` unless it is 64 lowercase hex digits."""
    if len(text) != 64 or not _HEX.issuperset(text):
        raise ValueError(f"not a txid: {text[:80]!r}")
    return Txid(text)
