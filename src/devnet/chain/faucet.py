"""The devnet faucet key: a taproot key-path wallet funded by the coinbases the devnet mines."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator_core.keyfile import load_or_create_secret
from ticketdlc.bitcoin.script import p2tr_script
from ticketdlc.bitcoin.sighash import SIGHASH_DEFAULT, SighashCache
from ticketdlc.bitcoin.taproot import output_key, tap_tweak
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from ticketdlc.crypto import bip340
from ticketdlc.crypto.secp import CURVE_ORDER, Point

FAUCET_FEE_RATE = 2  # sat/vB
P2TR_INPUT_VBYTES = 58  # outpoint, empty scriptSig, sequence, 64-byte signature witness
P2TR_OUTPUT_VBYTES = 43
TX_OVERHEAD_VBYTES = 11


@dataclass(frozen=True)
class FaucetKey:
    """A BIP-86 style key-path-only taproot key (no script tree)."""

    secret: bytes

    @classmethod
    def load(cls, path: Path) -> FaucetKey:
        """Load the key file, creating it on first use."""
        return cls(load_or_create_secret(path))

    @property
    def internal_key(self) -> bytes:
        return bip340.xonly_pubkey(self.secret)

    @property
    def script_pubkey(self) -> bytes:
        return p2tr_script(output_key(self.internal_key, None)[0])

    def tweaked_secret(self) -> bytes:
        """Secret of the tweaked output key: ``±d + H_TapTweak(P)`` (negated if P has odd y)."""
        d = int.from_bytes(self.secret, "big")
        if not Point.from_secret(self.secret).has_even_y():
            d = CURVE_ORDER - d
        return ((d + tap_tweak(self.internal_key, None)) % CURVE_ORDER).to_bytes(32, "big")

    def sign(
        self, tx: Transaction, spent: Sequence[TxOut], inputs: Iterable[int] | None = None
    ) -> Transaction:
        """Key-path sign the inputs at ``inputs`` (every input by default), which spend this
        key's outputs; ``spent`` holds the output each input of ``tx`` spends."""
        cache = SighashCache(tx, spent)
        secret = self.tweaked_secret()
        for index in range(len(tx.inputs)) if inputs is None else inputs:
            digest = cache.taproot(index, SIGHASH_DEFAULT)
            tx = tx.with_witness(index, [bip340.sign(secret, digest, os.urandom(32))])
        return tx


def estimated_vsize(n_inputs: int, n_outputs: int) -> int:
    """Upper bound of the size of a faucet transaction in vbytes."""
    return TX_OVERHEAD_VBYTES + n_inputs * P2TR_INPUT_VBYTES + n_outputs * P2TR_OUTPUT_VBYTES


def build_payment(
    key: FaucetKey,
    coins: Sequence[tuple[OutPoint, TxOut]],
    script_pubkey: bytes,
    sats: int,
    change_dust: int,
    fee_rate: int = FAUCET_FEE_RATE,
) -> Transaction:
    """Signed transaction paying ``sats`` to ``script_pubkey`` from ``coins``, change back,
    at ``fee_rate`` sat/vB."""
    total = sum(out.value for _, out in coins)
    fee = estimated_vsize(len(coins), 2) * fee_rate
    change = total - sats - fee
    if change < 0:
        raise ValueError("coins do not cover the amount and the fee")
    outputs = [TxOut(sats, script_pubkey)]
    if change >= change_dust:
        outputs.append(TxOut(change, key.script_pubkey))
    inputs = [TxIn(outpoint, b"", 0xFFFF_FFFD) for outpoint, _ in coins]
    unsigned = Transaction(2, inputs, outputs, 0)
    return key.sign(unsigned, [out for _, out in coins])
