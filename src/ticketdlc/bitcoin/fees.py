"""Weight prediction and fees exactly as rust-bitcoin's ``predict_weight`` (dlctix §2.6).

Fee rates are in sat per 1000 weight units (sat/kwu); 1 sat/vB = 250 sat/kwu.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from ticketdlc.bitcoin.encoding import compact_size_len
from ticketdlc.bitcoin.script import witness_program

P2TR_DUST_VALUE: Final = 330
DUST_RELAY_FEE_PER_KVB: Final = 3000
P2TR_SCRIPT_PUBKEY_LEN: Final = 34
SCHNORR_SIGNATURE_SIZE: Final = 64
_OUTPOINT_AND_SEQUENCE_WEIGHT: Final = 4 * (32 + 4 + 4)


@dataclass(frozen=True, slots=True)
class InputWeightPrediction:
    """Size of one input's scriptSig and witness stack elements (rust-bitcoin's IWP)."""

    script_len: int
    witness_elements: Sequence[int] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "witness_elements", tuple(self.witness_elements))
        if self.script_len < 0 or any(e < 0 for e in self.witness_elements):
            raise ValueError("sizes must be non-negative")

    @property
    def has_witness(self) -> bool:
        """True if the input carries any witness element."""
        return bool(self.witness_elements)

    def weight(self) -> int:
        """``4·(script_len + varint) + witness size`` (outpoint and sequence excluded)."""
        script_size = self.script_len + compact_size_len(self.script_len)
        witness_size = 0
        if self.witness_elements:
            witness_size = sum(e + compact_size_len(e) for e in self.witness_elements)
            witness_size += compact_size_len(len(self.witness_elements))
        return 4 * script_size + witness_size


P2TR_KEY_SPEND: Final = InputWeightPrediction(0, (SCHNORR_SIGNATURE_SIZE,))


def predict_weight(
    inputs: Iterable[InputWeightPrediction], output_script_lens: Iterable[int]
) -> int:
    """Predicted transaction weight from input predictions and output scriptPubKey lengths."""
    inputs = list(inputs)
    output_script_lens = list(output_script_lens)
    input_weight = sum(i.weight() for i in inputs) + _OUTPOINT_AND_SEQUENCE_WEIGHT * len(inputs)
    with_witness = sum(1 for i in inputs if i.has_witness)
    non_input_size = (
        4
        + compact_size_len(len(inputs))
        + compact_size_len(len(output_script_lens))
        + sum(8 + n + compact_size_len(n) for n in output_script_lens)
        + 4
    )
    weight = 4 * non_input_size + input_weight
    if with_witness:
        # Segwit marker and flag, plus an empty witness count for each input without one.
        weight += len(inputs) - with_witness + 2
    return weight


def fee_for_weight(fee_rate_sat_per_kwu: int, weight: int) -> int:
    """Fee in sats for ``weight`` at ``fee_rate`` sat/kwu, rounded up."""
    if fee_rate_sat_per_kwu < 0 or weight < 0:
        raise ValueError("fee rate and weight must be non-negative")
    return -(-fee_rate_sat_per_kwu * weight // 1000)


def sat_per_vb_to_sat_per_kwu(sat_per_vb: int) -> int:
    """Convert a fee rate from sat/vB to sat/kwu."""
    return sat_per_vb * 250


def minimal_non_dust(script_pubkey: bytes) -> int:
    """Smallest value an output with ``script_pubkey`` may carry without being dust.

    Bitcoin Core's dust limit at its 3 sat/vB dust relay rate (rust-bitcoin's
    ``minimal_non_dust``): the cost of the output plus the input that would spend it, with the
    witness discount for segwit programs. P2A 240, P2WPKH 294, P2TR/P2WSH 330, P2SH 540,
    P2PKH 546. Provably unspendable outputs are not special-cased here.
    """
    spend_size = 67 if witness_program(script_pubkey) is not None else 148
    size = spend_size + 8 + len(script_pubkey) + compact_size_len(len(script_pubkey))
    return DUST_RELAY_FEE_PER_KVB * size // 1000


def is_above_p2tr_dust(value: int) -> bool:
    """True if a P2TR output of ``value`` sats is allowed (strictly more than 330)."""
    return value > P2TR_DUST_VALUE
