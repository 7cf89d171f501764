"""A minimal BIP-174 PSBT for the wallet worker to sign a transaction built elsewhere.

Every input gets its witness UTXO (taproot signature hashes commit to all spent outputs); an
input that needs no signature at all (a pay-to-anchor spend) is given an empty final witness,
so BDK neither signs nor finalizes it and the extracted transaction keeps it empty.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Sequence
from typing import Final

from ticketdlc.bitcoin.encoding import compact_size
from ticketdlc.bitcoin.tx import Transaction, TxOut

MAGIC: Final = b"psbt\xff"
GLOBAL_UNSIGNED_TX: Final = b"\x00"
IN_WITNESS_UTXO: Final = b"\x01"
IN_FINAL_SCRIPTWITNESS: Final = b"\x08"
SEPARATOR: Final = b"\x00"
EMPTY_WITNESS: Final = b"\x00"  # a witness of zero stack items


def _pair(key: bytes, value: bytes) -> bytes:
    return compact_size(len(key)) + key + compact_size(len(value)) + value


def psbt_for(tx: Transaction, spent_outputs: Sequence[TxOut], keyless: Collection[int]) -> str:
    """Base64 PSBT of ``tx`` (its witnesses dropped) with ``spent_outputs`` as witness UTXOs
    and an empty final witness on the ``keyless`` inputs."""
    if len(spent_outputs) != len(tx.inputs):
        raise ValueError("one spent output per input")
    if any(not 0 <= index < len(tx.inputs) for index in keyless):
        raise ValueError("a keyless input index is out of range")
    data = MAGIC + _pair(GLOBAL_UNSIGNED_TX, tx.serialize(include_witness=False)) + SEPARATOR
    for index, spent in enumerate(spent_outputs):
        data += _pair(IN_WITNESS_UTXO, spent.serialize())
        if index in keyless:
            data += _pair(IN_FINAL_SCRIPTWITNESS, EMPTY_WITNESS)
        data += SEPARATOR
    data += SEPARATOR * len(tx.outputs)
    return base64.b64encode(data).decode()
