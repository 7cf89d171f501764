"""Bitcoin Core's script interpreter (libbitcoinkernel through py-bitcoinkernel) for checking
the inputs of a transaction before anything relies on it."""

from __future__ import annotations

from collections.abc import Sequence

import pbk
from pbk.script import PrecomputedTransactionData


def first_invalid_input(raw_tx: bytes, spent_outputs: Sequence[tuple[bytes, int]]) -> int | None:
    """Verify every input's script with all consensus flags (taproot included).

    ``spent_outputs`` holds ``(script_pubkey, amount)`` of each input's previous output, in
    input order. Returns the index of the first input that does not verify, or ``None``.
    """
    tx = pbk.Transaction(raw_tx)
    outputs = [pbk.TransactionOutput(pbk.ScriptPubkey(s), value) for s, value in spent_outputs]
    if len(outputs) != len(tx.inputs):
        raise ValueError("one spent output per input is required")
    precomputed = PrecomputedTransactionData(tx, outputs)
    for index, (script, value) in enumerate(spent_outputs):
        try:
            ok = bool(
                pbk.ScriptPubkey(script).verify(
                    value, tx, precomputed, index, pbk.ScriptVerificationFlags.ALL
                )
            )
        except pbk.ScriptVerifyException:
            ok = False
        if not ok:
            return index
    return None
