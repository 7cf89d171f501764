"""``coordinator dlc build``: every transaction and sighash of a contract, as JSON.

Reads dlctix ContractParameters JSON and a funding outpoint, builds the contract (the stored
contract rules, so legacy contracts with shared winners build too) and reports what the signers
would sign and the fee each pre-signed transaction pays. Needs no configuration and starts nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from coordinator_core.errors import ValidationError
from ticketdlc.bitcoin.tx import OutPoint
from ticketdlc.contract import (
    AnchorParams,
    ContractError,
    ContractLayout,
    TicketedDLC,
    presigned_tx_fee,
)
from ticketdlc.contract.jsoncodec import loads, params_from_json

MAX_PARAMS_BYTES: Final = 16 * 1024 * 1024


def build_report(
    params_path: Path, funding_outpoint: str, layout: str | None, anchor: int | None = None
) -> dict[str, Any]:
    """The contract's funding script, outcome value, transactions, sighashes and fees.

    ``layout`` (``"legacy"`` or ``"outcome_bound"``) overrides the parameters' own layout;
    ``anchor`` overrides their anchor (sats; 0 removes it). Raises :class:`ValidationError` for
    unreadable or invalid input.
    """
    try:
        with params_path.open("rb") as handle:
            text = handle.read(MAX_PARAMS_BYTES + 1)
    except OSError as exc:
        raise ValidationError(f"cannot read {params_path}: {exc.strerror}") from None
    try:
        outpoint = OutPoint.parse(funding_outpoint)
    except ValueError as exc:
        raise ValidationError(f"--funding-outpoint: {exc}") from None
    try:
        params = params_from_json(loads(text, MAX_PARAMS_BYTES))
        if layout is not None:
            params = params.with_layout(ContractLayout(layout))
        if anchor is not None:
            params = params.with_anchor(AnchorParams(anchor) if anchor else None)
        dlc = TicketedDLC.rebuild(params, outpoint)
    except ContractError as exc:
        raise ValidationError(f"{params_path}: {exc}") from None
    return {
        "funding_script_pubkey": dlc.funding_output.script_pubkey.hex(),
        "outcome_value": dlc.outcome_value,
        "outcome_txs": {str(o): tx.hex() for o, tx in dlc.outcome_txs.items()},
        "split_txs": {str(o): tx.hex() for o, tx in dlc.split_txs.items()},
        "outcome_sighashes": {str(o): h.hex() for o, h in dlc.outcome_sighashes.items()},
        "split_sighashes": {str(w): h.hex() for w, h in dlc.split_sighashes.items()},
        "outcome_tx_fees": {str(o): presigned_tx_fee(dlc, tx) for o, tx in dlc.outcome_txs.items()},
        "split_tx_fees": {str(o): presigned_tx_fee(dlc, tx) for o, tx in dlc.split_txs.items()},
    }
