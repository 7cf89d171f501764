"""Signature hashes: BIP-341 (taproot key and script path) and BIP-143 (segwit v0).

:class:`SighashCache` precomputes the per-transaction hashes once so that signing many inputs
of one transaction (or many script paths of one input) stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Final

from ticketdlc.bitcoin.encoding import compact_size, ser_bytes, sha256, sha256d
from ticketdlc.bitcoin.tx import Transaction, TxOut
from ticketdlc.crypto.secp import tagged_hash

SIGHASH_DEFAULT: Final = 0x00
SIGHASH_ALL: Final = 0x01
SIGHASH_NONE: Final = 0x02
SIGHASH_SINGLE: Final = 0x03
SIGHASH_ANYONECANPAY: Final = 0x80

TAPROOT_HASH_TYPES: Final = frozenset({0x00, 0x01, 0x02, 0x03, 0x81, 0x82, 0x83})
CODESEP_NONE: Final = 0xFFFF_FFFF
TAPSCRIPT_KEY_VERSION: Final = 0x00


class SighashError(ValueError):
    """The sighash is undefined for these arguments (bad type, index or spent outputs)."""


class SighashCache:
    """Per-transaction precomputed hashes for BIP-341 and BIP-143.

    ``spent_outputs`` (every input's previous output, in input order) is required for taproot
    and optional for BIP-143, which takes the amount per call.
    """

    def __init__(self, tx: Transaction, spent_outputs: Sequence[TxOut] | None = None) -> None:
        self.tx = tx
        self.spent_outputs = tuple(spent_outputs) if spent_outputs is not None else None
        if self.spent_outputs is not None and len(self.spent_outputs) != len(tx.inputs):
            raise SighashError("one spent output per input is required")

    # -- single SHA-256 hashes (BIP-341) -------------------------------------------------

    @cached_property
    def _prevouts_ser(self) -> bytes:
        return b"".join(txin.prevout.serialize() for txin in self.tx.inputs)

    @cached_property
    def _sequences_ser(self) -> bytes:
        return b"".join(txin.sequence.to_bytes(4, "little") for txin in self.tx.inputs)

    @cached_property
    def _outputs_ser(self) -> bytes:
        return b"".join(txout.serialize() for txout in self.tx.outputs)

    @cached_property
    def sha_prevouts(self) -> bytes:
        """SHA256 of all outpoints."""
        return sha256(self._prevouts_ser)

    @cached_property
    def sha_sequences(self) -> bytes:
        """SHA256 of all nSequence values."""
        return sha256(self._sequences_ser)

    @cached_property
    def sha_outputs(self) -> bytes:
        """SHA256 of all outputs."""
        return sha256(self._outputs_ser)

    @cached_property
    def sha_amounts(self) -> bytes:
        """SHA256 of all spent amounts."""
        spent = self._require_spent()
        return sha256(b"".join(out.value.to_bytes(8, "little") for out in spent))

    @cached_property
    def sha_scriptpubkeys(self) -> bytes:
        """SHA256 of all spent scriptPubKeys (length-prefixed)."""
        spent = self._require_spent()
        return sha256(b"".join(ser_bytes(out.script_pubkey) for out in spent))

    def _require_spent(self) -> tuple[TxOut, ...]:
        if self.spent_outputs is None:
            raise SighashError("taproot signature hashes need every spent output")
        return self.spent_outputs

    # -- BIP-341 -------------------------------------------------------------------------

    def taproot_sigmsg(
        self,
        input_index: int,
        hash_type: int = SIGHASH_DEFAULT,
        *,
        leaf_hash: bytes | None = None,
        annex: bytes | None = None,
        codesep_pos: int = CODESEP_NONE,
    ) -> bytes:
        """The BIP-341 hashed message: epoch byte 0x00 followed by ``SigMsg``.

        ``leaf_hash`` selects the script path (BIP-342 extension, ``ext_flag = 1``). ``annex``
        includes its 0x50 prefix.
        """
        tx = self.tx
        if hash_type not in TAPROOT_HASH_TYPES:
            raise SighashError(f"invalid taproot hash type {hash_type:#x}")
        if not 0 <= input_index < len(tx.inputs):
            raise SighashError("input index out of range")
        spent = self._require_spent()
        output_type = SIGHASH_ALL if hash_type == SIGHASH_DEFAULT else hash_type & 0x03
        anyone_can_pay = bool(hash_type & SIGHASH_ANYONECANPAY)
        parts = [
            b"\x00",  # epoch
            bytes((hash_type,)),
            (tx.version % 2**32).to_bytes(4, "little"),
            tx.locktime.to_bytes(4, "little"),
        ]
        if not anyone_can_pay:
            parts += [self.sha_prevouts, self.sha_amounts, self.sha_scriptpubkeys]
            parts.append(self.sha_sequences)
        if output_type == SIGHASH_ALL:
            parts.append(self.sha_outputs)
        if annex is not None and (not annex or annex[0] != 0x50):
            raise SighashError("an annex starts with 0x50")
        ext_flag = 0 if leaf_hash is None else 1
        parts.append(bytes((2 * ext_flag + (annex is not None),)))
        if anyone_can_pay:
            txin = tx.inputs[input_index]
            parts += [
                txin.prevout.serialize(),
                spent[input_index].serialize(),  # amount || ser(scriptPubKey)
                txin.sequence.to_bytes(4, "little"),
            ]
        else:
            parts.append(input_index.to_bytes(4, "little"))
        if annex is not None:
            parts.append(sha256(compact_size(len(annex)) + annex))
        if output_type == SIGHASH_SINGLE:
            if input_index >= len(tx.outputs):
                raise SighashError("SIGHASH_SINGLE without a matching output")
            parts.append(sha256(tx.outputs[input_index].serialize()))
        if leaf_hash is not None:
            if len(leaf_hash) != 32:
                raise SighashError("a tapleaf hash is 32 bytes")
            parts += [leaf_hash, bytes((TAPSCRIPT_KEY_VERSION,)), codesep_pos.to_bytes(4, "little")]
        return b"".join(parts)

    def taproot(
        self,
        input_index: int,
        hash_type: int = SIGHASH_DEFAULT,
        *,
        leaf_hash: bytes | None = None,
        annex: bytes | None = None,
        codesep_pos: int = CODESEP_NONE,
    ) -> bytes:
        """BIP-341 signature hash ``tagged_hash("TapSighash", 0x00 || SigMsg)``."""
        msg = self.taproot_sigmsg(
            input_index, hash_type, leaf_hash=leaf_hash, annex=annex, codesep_pos=codesep_pos
        )
        return tagged_hash("TapSighash", msg)

    # -- BIP-143 -------------------------------------------------------------------------

    # BIP-143 double-hashes what BIP-341 hashes once: SHA256d(x) = SHA256(SHA256(x)).

    @cached_property
    def hash_prevouts_v0(self) -> bytes:
        """Double SHA256 of all outpoints."""
        return sha256(self.sha_prevouts)

    @cached_property
    def hash_sequence_v0(self) -> bytes:
        """Double SHA256 of all nSequence values."""
        return sha256(self.sha_sequences)

    @cached_property
    def hash_outputs_v0(self) -> bytes:
        """Double SHA256 of all outputs."""
        return sha256(self.sha_outputs)

    def segwit_v0(
        self, input_index: int, script_code: bytes, amount: int, hash_type: int = SIGHASH_ALL
    ) -> bytes:
        """BIP-143 signature hash for a P2WPKH/P2WSH input.

        ``script_code`` is the witness script (P2WSH) or :func:`p2wpkh_script_code` (P2WPKH),
        without a length prefix.
        """
        tx = self.tx
        if not 0 <= input_index < len(tx.inputs):
            raise SighashError("input index out of range")
        if not 0 <= hash_type <= 0xFFFF_FFFF:
            raise SighashError("hash type out of range")
        base = hash_type & 0x1F
        anyone_can_pay = bool(hash_type & SIGHASH_ANYONECANPAY)
        zero = bytes(32)
        hash_prevouts = zero if anyone_can_pay else self.hash_prevouts_v0
        if anyone_can_pay or base in (SIGHASH_SINGLE, SIGHASH_NONE):
            hash_sequence = zero
        else:
            hash_sequence = self.hash_sequence_v0
        if base not in (SIGHASH_SINGLE, SIGHASH_NONE):
            hash_outputs = self.hash_outputs_v0
        elif base == SIGHASH_SINGLE and input_index < len(tx.outputs):
            hash_outputs = sha256d(tx.outputs[input_index].serialize())
        else:
            hash_outputs = zero
        txin = tx.inputs[input_index]
        preimage = b"".join(
            (
                (tx.version % 2**32).to_bytes(4, "little"),
                hash_prevouts,
                hash_sequence,
                txin.prevout.serialize(),
                ser_bytes(script_code),
                amount.to_bytes(8, "little"),
                txin.sequence.to_bytes(4, "little"),
                hash_outputs,
                tx.locktime.to_bytes(4, "little"),
                hash_type.to_bytes(4, "little"),
            )
        )
        return sha256d(preimage)


def taproot_sighash(
    tx: Transaction,
    input_index: int,
    spent_outputs: Sequence[TxOut],
    hash_type: int = SIGHASH_DEFAULT,
    *,
    leaf_hash: bytes | None = None,
    annex: bytes | None = None,
    codesep_pos: int = CODESEP_NONE,
) -> bytes:
    """One-shot BIP-341 signature hash (see :meth:`SighashCache.taproot`)."""
    return SighashCache(tx, spent_outputs).taproot(
        input_index, hash_type, leaf_hash=leaf_hash, annex=annex, codesep_pos=codesep_pos
    )
