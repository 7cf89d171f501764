"""Package relay: Bitcoin Core 30's ``submitpackage`` over the devnet mempool.

A package is a child and (some of) its unconfirmed parents, parents first, none spending
another. Each transaction is first tried on its own; those refused only for their fee rate
(``mempool min fee not met``, a too cheap replacement) or for a parent still missing are then
evaluated together, where the package's fee rate must meet the mempool's minimum. The minimum
relay fee applies to every transaction alone (Core exempts only TRUC transactions, which the
devnet does not implement). Whatever passes stays in the mempool even if the rest fails.
Results are Core's ``submitpackage`` JSON, as Esplora's ``POST /txs/package`` relays it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from devnet.chain.model import ChainTx, Coin
from devnet.chain.policy import (
    COIN,
    MIN_RELAY_FEE_PER_KVB,
    TxRejectedError,
    check_mempool_min_fee,
    fee_at_rate,
)
from devnet.chain.rbf import check_package_replacement, check_replacement
from devnet.chain.scripts import is_unspendable
from ticketdlc.bitcoin.encoding import DecodeError
from ticketdlc.bitcoin.tx import OutPoint

if TYPE_CHECKING:
    from devnet.chain.chain import DevnetChain, Workspace

MAX_PACKAGE_COUNT: Final = 25
MAX_PACKAGE_WEIGHT: Final = 404_000
TRANSACTION_FAILED: Final = "transaction failed"
#: Refusals that package evaluation may overturn (Core's TX_RECONSIDERABLE and missing inputs).
RECONSIDERABLE: Final = frozenset(
    {"mempool min fee not met", "insufficient fee", "bad-txns-inputs-missingorspent"}
)

Kind = Literal["valid", "mempool", "other-witness", "invalid", "unevaluated"]


class PackageRpcError(Exception):
    """``submitpackage`` refused the request itself (bitcoind's JSON-RPC error)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class TxResult:
    """What happened to one transaction of the package."""

    ctx: ChainTx
    kind: Kind = "unevaluated"
    fee: int | None = None
    vsize: int | None = None
    effective: tuple[int, int] | None = None  # (fees, vsize) the effective fee rate is over
    includes: list[bytes] = field(default_factory=list)  # wtxids of that fee rate
    error: str | None = None
    other_wtxid: bytes | None = None
    replaced: list[bytes] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """One ``tx-results`` entry of ``submitpackage``."""
        out: dict[str, Any] = {"txid": self.ctx.txid_hex}
        if self.kind == "other-witness" and self.other_wtxid is not None:
            out["other-wtxid"] = self.other_wtxid[::-1].hex()
        elif self.kind in ("valid", "mempool") and self.fee is not None:
            out["vsize"] = self.vsize
            fees: dict[str, Any] = {"base": self.fee / COIN}
            if self.kind == "valid" and self.effective is not None:
                total_fee, total_vsize = self.effective
                fees["effective-feerate"] = total_fee * 1000 // total_vsize / COIN
                fees["effective-includes"] = [w[::-1].hex() for w in self.includes]
            out["fees"] = fees
        else:
            out["error"] = self.error or "package-not-validated"
        return out


@dataclass
class PackageResult:
    """The outcome of a package submission."""

    message: str
    results: list[TxResult]

    @property
    def accepted(self) -> bool:
        return self.message == "success"

    def to_json(self) -> dict[str, Any]:
        """Core's ``submitpackage`` result."""
        replaced = sorted({t[::-1].hex() for r in self.results for t in r.replaced})
        return {
            "package_msg": self.message,
            "tx-results": {r.ctx.wtxid[::-1].hex(): r.to_json() for r in self.results},
            "replaced-transactions": replaced,
        }


def decode_package(raws: Sequence[bytes], max_burn: int = 0) -> list[ChainTx]:
    """Parse the package and run ``submitpackage``'s own checks (raises PackageRpcError)."""
    if not 1 <= len(raws) <= MAX_PACKAGE_COUNT:
        raise PackageRpcError(
            -8, f"Array must contain between 1 and {MAX_PACKAGE_COUNT} transactions."
        )
    txs = []
    for index, raw in enumerate(raws):
        try:
            ctx = ChainTx.from_raw(raw)
        except (DecodeError, ValueError):
            raise PackageRpcError(
                -22, f"TX decode failed for tx {index}. Make sure the tx has at least one input."
            ) from None
        if any(is_unspendable(o.script_pubkey) and o.value > max_burn for o in ctx.tx.outputs):
            raise PackageRpcError(
                -25, "Unspendable output exceeds maximum configured by user (maxburnamount)."
            )
        txs.append(ctx)
    if len(txs) > 1 and not is_child_with_parents_tree(txs):
        raise PackageRpcError(
            -25,
            "package topology disallowed. not child-with-parents or parents depend on each other.",
        )
    return txs


def is_child_with_parents_tree(txs: Sequence[ChainTx]) -> bool:
    """The last transaction spends an output of every other one, and no parent spends
    another parent (Core's ``IsChildWithParentsTree``)."""
    parents = {ctx.txid for ctx in txs[:-1]}
    spent_by_child = {txin.prevout.txid for txin in txs[-1].tx.inputs}
    if not parents <= spent_by_child:
        return False
    return not any(txin.prevout.txid in parents for ctx in txs[:-1] for txin in ctx.tx.inputs)


def well_formed_error(txs: Sequence[ChainTx]) -> str | None:
    """Core's ``IsWellFormedPackage`` (the package-wide reason, or ``None``)."""
    if len(txs) > MAX_PACKAGE_COUNT:
        return "package-too-many-transactions"
    if len(txs) > 1 and sum(ctx.weight for ctx in txs) > MAX_PACKAGE_WEIGHT:
        return "package-too-large"
    txids = [ctx.txid for ctx in txs]
    if len(set(txids)) != len(txids):
        return "package-contains-duplicates"
    later = set(txids)
    for ctx in txs:
        later.discard(ctx.txid)
        if any(txin.prevout.txid in later for txin in ctx.tx.inputs):
            return "package-not-sorted"
    spent = [txin.prevout for ctx in txs for txin in ctx.tx.inputs]
    if len(set(spent)) != len(spent):
        return "conflict-in-package"
    return None


def submit_package(
    chain: DevnetChain, txs: Sequence[ChainTx], max_fee_rate_per_kvb: int | None
) -> PackageResult:
    """Core's ``AcceptPackage`` (the caller holds the chain's lock)."""
    results = [TxResult(ctx) for ctx in txs]
    problem = well_formed_error(txs)
    if problem is not None:
        return PackageResult(problem, results)
    now = int(time.time())
    quit_early = False
    to_evaluate: list[TxResult] = []
    for result in results:
        ctx = result.ctx
        entry = chain.mempool.get(ctx.txid)
        if entry is not None:
            if entry.ctx.wtxid == ctx.wtxid:
                result.kind, result.fee, result.vsize = "mempool", entry.fee, ctx.vsize
            else:
                result.kind, result.other_wtxid = "other-witness", entry.ctx.wtxid
            continue
        try:
            ws = _accept_single(chain, ctx, max_fee_rate_per_kvb, now)
        except TxRejectedError as exc:
            result.kind, result.error = "invalid", str(exc)
            if len(txs) == 1 or exc.reason not in RECONSIDERABLE:
                quit_early = True
            else:
                to_evaluate.append(result)
            continue
        _valid(result, ws, (ws.fee, ctx.vsize), [ctx.wtxid])
    if quit_early:
        return PackageResult(TRANSACTION_FAILED, results)
    if not to_evaluate:
        return PackageResult("success", results)
    if len(to_evaluate) == 1:
        only = to_evaluate[0]
        try:
            ws = _accept_single(chain, only.ctx, max_fee_rate_per_kvb, now)
        except TxRejectedError as exc:
            only.error = str(exc)
            return PackageResult(TRANSACTION_FAILED, results)
        _valid(only, ws, (ws.fee, only.ctx.vsize), [only.ctx.wtxid])
        return PackageResult("success", results)
    message = _accept_together(chain, to_evaluate, max_fee_rate_per_kvb, now)
    return PackageResult(message, results)


def _valid(
    result: TxResult, ws: Workspace, effective: tuple[int, int], includes: list[bytes]
) -> None:
    result.kind, result.error = "valid", None
    result.fee, result.vsize = ws.fee, ws.ctx.vsize
    result.effective, result.includes, result.replaced = effective, includes, ws.evicted


def _accept_single(
    chain: DevnetChain, ctx: ChainTx, max_fee_rate_per_kvb: int | None, now: int
) -> Workspace:
    """One transaction on its own, as a member of a package (Core's single-in-package)."""
    ws = chain.prechecks(ctx, max_fee_rate_per_kvb=None)
    _check_max_fee_rate(ws, max_fee_rate_per_kvb)
    if ws.conflicts:
        ws.evicted = check_replacement(chain.mempool, ctx, ws.fee, ws.conflicts)
    chain.check_scripts(ws)
    chain.commit(ws, now, journal=True)
    return ws


def _check_max_fee_rate(ws: Workspace, max_fee_rate_per_kvb: int | None) -> None:
    if max_fee_rate_per_kvb is not None and ws.fee * 1000 > max_fee_rate_per_kvb * ws.ctx.vsize:
        raise TxRejectedError("max feerate exceeded")


def _accept_together(
    chain: DevnetChain,
    members: Sequence[TxResult],
    max_fee_rate_per_kvb: int | None,
    now: int,
) -> str:
    """Core's ``AcceptMultipleTransactions``: the package message; results updated in place.

    A refusal of the whole package leaves each member's result from its own attempt.
    """
    next_height = chain.tip().height + 1
    created: dict[OutPoint, Coin] = {}
    workspaces: list[Workspace] = []
    for member in members:
        try:
            ws = chain.prechecks(member.ctx, created, fee_floor=False, max_fee_rate_per_kvb=None)
            _check_max_fee_rate(ws, max_fee_rate_per_kvb)
        except TxRejectedError as exc:
            member.error = str(exc)
            return TRANSACTION_FAILED
        workspaces.append(ws)
        for vout, out in enumerate(member.ctx.tx.outputs):
            created[OutPoint(member.ctx.txid, vout)] = Coin(
                out.value, out.script_pubkey, next_height, in_mempool=True
            )
    total_fee = sum(ws.fee for ws in workspaces)
    total_vsize = sum(ws.ctx.vsize for ws in workspaces)
    try:
        check_mempool_min_fee(total_fee, total_vsize, chain.min_fee_rates.mempool)
        minimum = fee_at_rate(MIN_RELAY_FEE_PER_KVB, total_vsize)
        if total_fee < minimum:
            raise TxRejectedError("min relay fee not met", f"{total_fee} < {minimum}")
    except TxRejectedError as exc:
        members[-1].error = str(exc)
        return TRANSACTION_FAILED
    in_mempool = chain.mempool.ancestors(p for ws in workspaces for p in ws.parents)
    if len(in_mempool) + len(workspaces) > 25:
        return "package-mempool-limits, exceeds ancestor limit [25]"
    conflicts = {txid for ws in workspaces for txid in ws.conflicts}
    evicted: list[bytes] = []
    if conflicts:
        in_package = {ws.ctx.txid for ws in workspaces}
        shape = [(ws.ctx, ws.fee, ws.parents - in_package) for ws in workspaces]
        try:
            evicted = check_package_replacement(chain.mempool, shape, conflicts)
        except TxRejectedError as exc:
            return str(exc)
    for member, ws in zip(members, workspaces, strict=True):
        try:
            chain.check_scripts(ws)
        except TxRejectedError as exc:
            member.error = str(exc)
            return TRANSACTION_FAILED
    workspaces[0].evicted = evicted
    includes = [ws.ctx.wtxid for ws in workspaces]
    for member, ws in zip(members, workspaces, strict=True):
        chain.commit(ws, now, journal=True)
        _valid(member, ws, (total_fee, total_vsize), includes)
    return "success"
