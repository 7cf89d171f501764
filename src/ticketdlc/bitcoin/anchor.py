"""Pay-to-anchor (P2A) outputs: the keyless output a child transaction spends to bump its parent.

A P2A output is ``OP_1 <0x4e73>`` (a 2-byte witness v1 program). Anyone can spend it with an
empty scriptSig and an empty witness; Bitcoin Core relays such outputs and their spends as
standard from version 28 on. Its dust limit at Core's 3 sat/vB dust relay rate is 240 sats.
"""

from __future__ import annotations

from typing import Final

from ticketdlc.bitcoin.fees import InputWeightPrediction
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxOut

P2A_SCRIPT_PUBKEY: Final = bytes.fromhex("51024e73")
P2A_SCRIPT_PUBKEY_SIZE: Final = len(P2A_SCRIPT_PUBKEY)
P2A_DUST_VALUE: Final = 240
"""Bitcoin Core's dust limit of a P2A output (the smallest standard anchor value)."""
ANCHOR_OUTPUT_WEIGHT: Final = 4 * (8 + 1 + P2A_SCRIPT_PUBKEY_SIZE)
"""52 WU: value, script length and script (when the output count's varint does not grow)."""
ANCHOR_INPUT_WEIGHT: Final = InputWeightPrediction(0, ())
"""An anchor spend: empty scriptSig, no witness elements."""
SEQUENCE_RBF: Final = 0xFFFF_FFFD
"""Signals replaceability (BIP-125) without a relative lock time."""


def anchor_output(value: int) -> TxOut:
    """A P2A output of ``value`` sats."""
    return TxOut(value, P2A_SCRIPT_PUBKEY)


def is_anchor_script(script_pubkey: bytes) -> bool:
    """True for exactly the P2A script."""
    return script_pubkey == P2A_SCRIPT_PUBKEY


def find_anchor(tx: Transaction) -> tuple[OutPoint, TxOut] | None:
    """The last P2A output of ``tx`` with its outpoint, or ``None`` if it has none."""
    for vout in range(len(tx.outputs) - 1, -1, -1):
        if is_anchor_script(tx.outputs[vout].script_pubkey):
            return OutPoint(tx.txid(), vout), tx.outputs[vout]
    return None
