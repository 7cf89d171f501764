"""What the coordinator needs from a Bitcoin chain source (an Esplora server in practice)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from coordinator_core.errors import PermanentError
from ticketdlc.typed_bytes import Txid

#: Fee rate used when the chain source has no estimate at all (sat/vB).
FALLBACK_FEE_RATE = 1.0


class BroadcastRejectedError(PermanentError):
    """The chain source refused a transaction; ``reason`` is its reject reason."""

    code = "broadcast_rejected"

    def __init__(self, txid: Txid, reason: str) -> None:
        super().__init__(f"transaction {txid} rejected: {reason}")
        self.txid = txid
        self.reason = reason


class PackageRelayUnsupportedError(PermanentError):
    """The chain source does not serve package relay (Esplora ``POST /txs/package``)."""

    code = "package_relay_unsupported"


#: Per-transaction errors of a package submission that mean "already there": the transaction
#: is confirmed (``txn-already-known``) or in the mempool.
ALREADY_KNOWN_ERRORS = ("txn-already-known", "txn-already-in-mempool")


@dataclass(frozen=True)
class PackageTxResult:
    """One transaction of a submitted package, as the chain source reported it."""

    txid: str
    wtxid: str
    error: str | None = None  # the reject reason; ``None`` if it is in the mempool
    vsize: int | None = None
    fee: int | None = None  # sats
    effective_fee_rate: float | None = None  # sat/vB the mempool credited it with

    @property
    def accepted(self) -> bool:
        """In the mempool now, or already confirmed."""
        return self.error is None or self.error.startswith(ALREADY_KNOWN_ERRORS)


@dataclass(frozen=True)
class PackageResult:
    """What Bitcoin Core's ``submitpackage`` said about a package (in package order)."""

    message: str  # "success", "transaction failed", or a package-wide reason
    results: tuple[PackageTxResult, ...]
    replaced: tuple[str, ...] = ()  # txids the package replaced

    @property
    def accepted(self) -> bool:
        """Every transaction is in the mempool or confirmed."""
        return all(result.accepted for result in self.results)


@dataclass(frozen=True)
class TxStatus:
    """Where a transaction the chain source knows about stands."""

    confirmed: bool
    block_height: int | None = None
    block_hash: str | None = None
    block_time: int | None = None


@dataclass(frozen=True)
class OutputSpend:
    """Whether an output is spent, and by which input."""

    spent: bool
    txid: Txid | None = None
    vin: int | None = None
    status: TxStatus | None = None


class ChainSource(Protocol):
    """Read the chain and broadcast transactions. Transport failures raise TransientError."""

    async def tip_height(self) -> int:
        """Height of the best block."""
        ...

    async def broadcast(self, raw_tx: bytes) -> Txid:
        """Submit a transaction; returns its txid.

        Idempotent: a transaction the chain source already has (in its mempool or in a block)
        counts as broadcast. A rejection raises :class:`BroadcastRejectedError`.
        """
        ...

    async def submit_package(self, raw_txs: Sequence[bytes]) -> PackageResult:
        """Submit a child with (some of) its unconfirmed parents, parents first (Bitcoin
        Core's ``submitpackage``): a parent below the mempool's minimum fee rate is accepted
        with a child that pays for both. Idempotent (see :attr:`PackageTxResult.accepted`).

        Raises :class:`BroadcastRejectedError` if the package is refused as a whole (its
        shape), :class:`PackageRelayUnsupportedError` if the chain source has no package
        relay. Individual refusals are in the result.
        """
        ...

    async def tx_status(self, txid: Txid) -> TxStatus | None:
        """Status of ``txid``, or ``None`` if the chain source does not know it."""
        ...

    async def confirmations(self, txid: Txid) -> int:
        """``tip − height + 1`` for a confirmed transaction, 0 if unconfirmed or unknown."""
        ...

    async def raw_transaction(self, txid: Txid) -> bytes | None:
        """Serialized transaction, or ``None`` if unknown."""
        ...

    async def output_spend(self, txid: Txid, vout: int) -> OutputSpend | None:
        """Spend status of an output, or ``None`` if the transaction is unknown."""
        ...

    async def block_time_at_depth(self, depth: int = 6) -> int:
        """Timestamp of the block ``depth`` deep (depth 1 is the tip; genesis if shorter)."""
        ...

    async def median_time_past(self) -> int:
        """Median time past of the tip (BIP113's clock for time locks)."""
        ...

    async def fee_estimates(self) -> dict[int, float]:
        """Confirmation target in blocks → fee rate in sat/vB (may be empty or partial)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def confirmations_from(status: TxStatus | None, tip_height: int) -> int:
    """Confirmations of a transaction with ``status`` when the tip is at ``tip_height``."""
    if status is None or not status.confirmed or status.block_height is None:
        return 0
    return max(tip_height - status.block_height + 1, 1)


def fee_rate_for_target(
    estimates: Mapping[int, float], target_blocks: int, fallback: float = FALLBACK_FEE_RATE
) -> int:
    """Whole sat/vB for ``target_blocks``, rounded up.

    Uses the estimate for the target if present; otherwise the nearest faster target (a higher,
    safer rate), otherwise the nearest slower one; ``fallback`` if there is no estimate at all.
    """
    if target_blocks < 1:
        raise ValueError("the confirmation target is at least one block")
    usable = {t: rate for t, rate in estimates.items() if math.isfinite(rate) and rate > 0}
    if target_blocks in usable:
        rate = usable[target_blocks]
    elif faster := [t for t in usable if t < target_blocks]:
        rate = usable[max(faster)]
    elif usable:
        rate = usable[min(usable)]
    else:
        rate = fallback
    return max(1, math.ceil(rate))
