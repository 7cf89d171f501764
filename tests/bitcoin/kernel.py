"""Bitcoin Core's script interpreter (py-bitcoinkernel) as a consensus oracle for tests."""

from __future__ import annotations

from collections.abc import Sequence

import pbk
import pbk.script

from ticketdlc.bitcoin.tx import Transaction, TxOut


def verify_input(tx: Transaction, index: int, spent_outputs: Sequence[TxOut]) -> bool:
    """True if input ``index`` of ``tx`` is valid under every consensus flag.

    Every spent output is supplied (taproot needs them all), and ``ALL`` flags are always used:
    with fewer flags a v1 output would look anyone-can-spend.
    """
    kernel_tx = pbk.Transaction(tx.serialize())
    spent = [
        pbk.TransactionOutput(pbk.ScriptPubkey(o.script_pubkey), o.value) for o in spent_outputs
    ]
    precomputed = pbk.script.PrecomputedTransactionData(kernel_tx, spent)
    prevout = spent_outputs[index]
    result = pbk.ScriptPubkey(prevout.script_pubkey).verify(
        prevout.value, kernel_tx, precomputed, index, pbk.ScriptVerificationFlags.ALL
    )
    return bool(result)


def verify_all_inputs(tx: Transaction, spent_outputs: Sequence[TxOut]) -> bool:
    """True if every input of ``tx`` is consensus-valid."""
    return all(verify_input(tx, i, spent_outputs) for i in range(len(tx.inputs)))
