"""The devnet chain: kernel-validated regtest blocks, an index, a mempool, a clock and a faucet.

Every public method takes the chain's lock, so the HTTP handlers (run in a thread pool) and the
automine thread see one consistent state. Nothing counts as mined unless the kernel accepted the
block; the index and the mempool are updated only afterwards.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from devnet.chain.blocks import (
    COINBASE_MATURITY,
    MAX_BLOCK_WEIGHT,
    BlockTemplate,
    block_hash,
    block_subsidy,
    coinbase_transaction,
    solve,
)
from devnet.chain.faucet import FAUCET_FEE_RATE, FaucetKey, build_payment, estimated_vsize
from devnet.chain.index import BlockInfo, ChainIndex, IndexedTx
from devnet.chain.kernel import Kernel, split_block
from devnet.chain.mempool import Mempool, MempoolEntry
from devnet.chain.miner import select_transactions
from devnet.chain.model import ChainTx, Coin
from devnet.chain.package import PackageResult, decode_package, submit_package
from devnet.chain.policy import (
    DEFAULT_BLOCK_MIN_FEE_PER_KVB,
    MAX_ANCESTORS,
    MAX_FEE_RATE_PER_KVB,
    TxRejectedError,
    check_final,
    check_inputs,
    check_mempool_min_fee,
    check_transaction,
    dust_threshold,
)
from devnet.chain.rbf import check_disjoint, check_replacement
from ticketdlc.bitcoin.encoding import DecodeError
from ticketdlc.bitcoin.tx import OutPoint, TxOut

log = logging.getLogger(__name__)

INITIAL_BLOCKS: Final = COINBASE_MATURITY + 1
MAX_FUTURE_BLOCK_SECS: Final = 2 * 3600 - 300  # the kernel rejects blocks > 2 h ahead of its clock
COINBASE_WEIGHT_RESERVE: Final = 8_000
DEFAULT_FEE_ESTIMATES: Final = {1: 2.0, 2: 2.0, 3: 1.5, 6: 1.0, 12: 1.0, 25: 1.0, 144: 1.0}
MAX_FAUCET_INPUTS: Final = 50
_FAUCET_SCAN_LIMIT: Final = 1000
_META_CLOCK_OFFSET = "clock_offset"
_META_FEE_ESTIMATES = "fee_estimates"
_META_MIN_FEE_RATES = "min_fee_rates"


class BlockRejectedError(Exception):
    """The kernel refused a block; the tip did not move."""


class FaucetError(Exception):
    """The faucet cannot pay (not enough mature funds, bad amount)."""


class ClockError(ValueError):
    """A requested block time the chain cannot use."""


@dataclass(frozen=True)
class MinFeeRates:
    """Fee floors in sat/kvB: the miner's (``-blockmintxfee``) and the mempool's minimum
    (Core's ``mempoolminfee``, 0 = none besides the minimum relay fee)."""

    block: int = DEFAULT_BLOCK_MIN_FEE_PER_KVB
    mempool: int = 0

    def to_json(self) -> dict[str, float]:
        return {"block_sat_per_vb": self.block / 1000, "mempool_sat_per_vb": self.mempool / 1000}


@dataclass
class Workspace:
    """A transaction passing through mempool acceptance: its coins, fee and conflicts."""

    ctx: ChainTx
    coins: list[Coin]
    parents: frozenset[bytes]  # in-mempool (or earlier in-package) parents
    fee: int
    conflicts: set[bytes]  # mempool transactions spending the same outpoints
    evicted: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class TxLookup:
    """A transaction with what Esplora shows about it."""

    ctx: ChainTx
    block: BlockInfo | None  # None while in the mempool
    fee: int
    prevouts: list[tuple[bytes, int] | None]  # (script, value) per input; None for coinbase


def mempool_lookup(entry: MempoolEntry) -> TxLookup:
    """The :class:`TxLookup` of a mempool entry."""
    prevouts: list[tuple[bytes, int] | None] = [(c.script_pubkey, c.value) for c in entry.prevouts]
    return TxLookup(entry.ctx, None, entry.fee, prevouts)


def confirmed_lookup(index: ChainIndex, row: IndexedTx) -> TxLookup:
    """The :class:`TxLookup` of a confirmed transaction (coinbases have no prevouts)."""
    ctx = ChainTx.from_raw(row.raw)
    prevouts: list[tuple[bytes, int] | None]
    prevouts = [None] * len(ctx.tx.inputs) if row.pos == 0 else index.prevouts(ctx.tx)
    return TxLookup(ctx, index.block_at(row.height), row.fee, prevouts)


class DevnetChain:
    """A regtest chain in ``data_dir`` (kernel files, index, mempool journal, faucet key)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.kernel = Kernel(data_dir / "kernel")
        try:
            self.index = ChainIndex(data_dir / "index.sqlite")
            self.mempool = Mempool()
            self.faucet_key = FaucetKey.load(data_dir / "faucet.pem")
            self._journal_path = data_dir / "mempool.journal"
            self._reconcile_index()
            offset = self.index.get_meta(_META_CLOCK_OFFSET)
            self.clock_offset = int(offset) if offset is not None else 0
            self.package_relay = True  # POST /txs/package served (a devnet control switch)
            rates = self.index.get_meta(_META_MIN_FEE_RATES)
            self.min_fee_rates = MinFeeRates(**json.loads(rates)) if rates else MinFeeRates()
            if self.kernel.height == 0:
                self._mine(INITIAL_BLOCKS, self.faucet_key.script_pubkey, None)
            self._load_mempool()
        except BaseException:
            self.kernel.close()
            raise

    def close(self) -> None:
        """Write the mempool journal and release the kernel and the index."""
        with self.lock:
            self._rewrite_journal()
            self.index.close()
            self.kernel.close()

    # -- start-up -----------------------------------------------------------------------------

    def _reconcile_index(self) -> None:
        """Make the kernel and the index agree.

        The kernel flushes its block index only now and then, so after a crash it can be behind
        the index: the missing blocks are rebuilt from the index and handed to the kernel again.
        An index that disagrees with the kernel is rebuilt from the kernel's blocks; an index
        that is behind is caught up.
        """
        tip = self.index.tip()
        if tip is not None and self.kernel.height < tip.height:
            self._replay_into_kernel(tip.height)
        height = self.kernel.height
        if tip is not None and (
            tip.height > height or self.kernel.block_hash(tip.height) != tip.hash
        ):
            log.warning("chain index disagrees with the kernel; rebuilding it")
            self.index.wipe()
            tip = None
        start = 0 if tip is None else tip.height + 1
        for h in range(start, height + 1):
            self._index_block(h, self.kernel.block(h))
        if start <= height:
            log.info("indexed blocks %d..%d", start, height)

    def _replay_into_kernel(self, index_height: int) -> None:
        start = self.kernel.height
        known = self.index.block_at(start)
        if known is None or known.hash != self.kernel.block_hash(start):
            return
        for height in range(start + 1, index_height + 1):
            verdict = self.kernel.submit_block(self.index.raw_block(height))
            if not verdict.valid:
                log.warning("replaying block %d into the kernel failed: %s", height, verdict.reason)
                return
        log.info("replayed blocks %d..%d into the kernel", start + 1, index_height)

    def _index_block(self, height: int, raw_block: bytes) -> None:
        txs = [ChainTx.from_raw(raw) for raw in split_block(raw_block)]
        self.index.add_block(height, raw_block[:80], txs, len(raw_block))

    def _load_mempool(self) -> None:
        if not self._journal_path.exists():
            return
        accepted = dropped = 0
        for line in self._journal_path.read_text().splitlines():
            raw_hex, _, when = line.partition(" ")
            try:
                ctx = ChainTx.from_raw(bytes.fromhex(raw_hex))
                if ctx.txid in self.mempool or self.index.transaction(ctx.txid) is not None:
                    continue
                self._accept(ctx, int(when or time.time()), journal=False, fee_floor=False)
                accepted += 1
            except (TxRejectedError, DecodeError, ValueError) as exc:
                dropped += 1
                log.info("mempool reload: dropped a transaction: %s", exc)
        self._rewrite_journal()
        log.info("mempool reloaded: %d kept, %d dropped", accepted, dropped)

    def _rewrite_journal(self) -> None:
        tmp = self._journal_path.with_suffix(".tmp")
        tmp.write_text("".join(f"{e.ctx.raw.hex()} {e.time}\n" for e in self.mempool))
        os.replace(tmp, self._journal_path)

    # -- clock --------------------------------------------------------------------------------

    def median_time_past(self, height: int) -> int:
        return self.index.median_time_past(height)

    def tip(self) -> BlockInfo:
        with self.lock:
            tip = self.index.tip()
            assert tip is not None
            return tip

    def next_block_time(self) -> int:
        """Time of the next block: the devnet clock, but later than the tip's median time."""
        with self.lock:
            mtp = self.median_time_past(self.tip().height)
            return max(int(time.time()) + self.clock_offset, mtp + 1)

    def set_time(self, unix: int) -> None:
        """Make the devnet clock read ``unix`` now (it keeps running from there)."""
        with self.lock:
            now = int(time.time())
            mtp = self.median_time_past(self.tip().height)
            if unix <= mtp:
                raise ClockError(f"time must be after the tip's median time past ({mtp})")
            if unix > now + MAX_FUTURE_BLOCK_SECS:
                raise ClockError(
                    "the kernel rejects blocks more than 2 hours ahead of the real clock "
                    f"(latest usable time: {now + MAX_FUTURE_BLOCK_SECS})"
                )
            self.clock_offset = unix - now
            self.index.set_meta(_META_CLOCK_OFFSET, str(self.clock_offset))

    # -- fee estimates ------------------------------------------------------------------------

    def fee_estimates(self) -> dict[int, float]:
        with self.lock:
            stored = self.index.get_meta(_META_FEE_ESTIMATES)
        if stored is None:
            return dict(DEFAULT_FEE_ESTIMATES)
        return {int(k): float(v) for k, v in json.loads(stored).items()}

    def set_fee_estimates(self, estimates: dict[int, float]) -> None:
        with self.lock:
            self.index.set_meta(_META_FEE_ESTIMATES, json.dumps(estimates))

    def set_min_fee_rate(self, sat_per_vb: float, mempool: bool = True) -> MinFeeRates:
        """Simulate a fee spike: the miner includes only packages paying ``sat_per_vb``, and
        (``mempool``) new transactions below it are refused unless a package lifts them."""
        per_kvb = round(sat_per_vb * 1000)
        with self.lock:
            block = max(per_kvb, DEFAULT_BLOCK_MIN_FEE_PER_KVB)
            self.min_fee_rates = MinFeeRates(block, per_kvb if mempool else 0)
            self.index.set_meta(
                _META_MIN_FEE_RATES,
                json.dumps({"block": block, "mempool": self.min_fee_rates.mempool}),
            )
            return self.min_fee_rates

    # -- transactions -------------------------------------------------------------------------

    def submit_transaction(self, raw: bytes) -> str:
        """Accept a transaction into the mempool; returns its txid.

        A transaction already in the mempool is accepted again without effect (as
        ``sendrawtransaction`` does); one spending what a mempool transaction spends replaces
        it if it pays for that (full RBF). Raises :class:`TxRejectedError` with Core's reason.
        """
        try:
            ctx = ChainTx.from_raw(raw)
        except (DecodeError, ValueError) as exc:
            raise TxRejectedError("TX decode failed", str(exc)) from exc
        with self.lock:
            if ctx.txid not in self.mempool:
                self._accept(ctx, int(time.time()), journal=True)
        return ctx.txid_hex

    def submit_package(
        self,
        raws: Sequence[bytes],
        max_fee_rate_per_kvb: int | None = MAX_FEE_RATE_PER_KVB,
        max_burn: int = 0,
    ) -> PackageResult:
        """Bitcoin Core's ``submitpackage``: a child with (some of) its unconfirmed parents.

        Raises :class:`~devnet.chain.package.PackageRpcError` for a request ``submitpackage``
        refuses outright (size, decoding, topology); otherwise every transaction's result.
        """
        txs = decode_package(raws, max_burn)
        with self.lock:
            return submit_package(self, txs, max_fee_rate_per_kvb)

    def _coin(self, outpoint: OutPoint, next_height: int) -> Coin | None:
        return self.index.coin(outpoint) or self.mempool.coin(outpoint, next_height)

    def prechecks(
        self,
        ctx: ChainTx,
        created: Mapping[OutPoint, Coin] | None = None,
        *,
        fee_floor: bool = True,
        max_fee_rate_per_kvb: int | None = MAX_FEE_RATE_PER_KVB,
    ) -> Workspace:
        """Every check but replacement and scripts, in Bitcoin Core's order.

        ``created`` holds outputs of earlier transactions of a package (not in the mempool
        yet); ``fee_floor`` applies the mempool's minimum fee rate to this transaction alone.
        """
        tip = self.tip()
        next_height = tip.height + 1
        check_transaction(ctx)
        check_final(ctx, next_height, tip.mediantime)
        coins: list[Coin] = []
        parents: set[bytes] = set()
        conflicts: set[bytes] = set()
        for txin in ctx.tx.inputs:
            spender = self.mempool.spender(txin.prevout)
            if spender is not None:
                conflicts.add(spender[0])
            coin = created.get(txin.prevout) if created else None
            if coin is None:
                coin = self._coin(txin.prevout, next_height)
            if coin is None:
                if self.index.transaction(ctx.txid) is not None:
                    raise TxRejectedError("txn-already-known")
                raise TxRejectedError("bad-txns-inputs-missingorspent")
            if coin.in_mempool:
                parents.add(txin.prevout.txid)
            coins.append(coin)
        fee = check_inputs(ctx, coins, next_height, self.median_time_past, max_fee_rate_per_kvb)
        if fee_floor:
            check_mempool_min_fee(fee, ctx.vsize, self.min_fee_rates.mempool)
        ancestors = self.mempool.ancestors(parents)
        if len(ancestors) + 1 > MAX_ANCESTORS:
            raise TxRejectedError(
                "too-long-mempool-chain", f"exceeds ancestor limit [{MAX_ANCESTORS}]"
            )
        if conflicts:
            check_disjoint(ctx, ancestors, conflicts)
        if not self.mempool.has_room(ctx.weight):
            raise TxRejectedError("mempool full")
        return Workspace(ctx, coins, frozenset(parents), fee, conflicts)

    def check_scripts(self, ws: Workspace) -> None:
        """The kernel's script checks (all consensus flags) over every input."""
        failing = self.kernel.verify_scripts(
            ws.ctx.raw, [(coin.script_pubkey, coin.value) for coin in ws.coins]
        )
        if failing is not None:
            raise TxRejectedError(
                "mandatory-script-verify-flag-failed",
                f"script of input {failing} does not verify",
            )

    def commit(self, ws: Workspace, now: int, journal: bool) -> None:
        """Evict what ``ws`` replaces and add it to the mempool (and its journal)."""
        for txid in reversed(ws.evicted):
            self.mempool.remove(txid)
        self.mempool.add(MempoolEntry(ws.ctx, ws.fee, now, tuple(ws.coins), ws.parents))
        if ws.evicted:
            log.info(
                "mempool: %s replaced %s",
                ws.ctx.txid_hex,
                ", ".join(t[::-1].hex() for t in ws.evicted),
            )
            self._rewrite_journal()
        elif journal:
            with self._journal_path.open("a") as handle:
                handle.write(f"{ws.ctx.raw.hex()} {now}\n")

    def _accept(self, ctx: ChainTx, now: int, journal: bool, fee_floor: bool = True) -> Workspace:
        ws = self.prechecks(ctx, fee_floor=fee_floor)
        if ws.conflicts:
            ws.evicted = check_replacement(self.mempool, ctx, ws.fee, ws.conflicts)
        self.check_scripts(ws)
        self.commit(ws, now, journal)
        return ws

    def lookup(self, txid: bytes) -> TxLookup | None:
        """A confirmed or mempool transaction, with its prevouts."""
        with self.lock:
            entry = self.mempool.get(txid)
            if entry is not None:
                return mempool_lookup(entry)
            found = self.index.transaction(txid)
            return None if found is None else confirmed_lookup(self.index, found)

    # -- mining -------------------------------------------------------------------------------

    def mine(
        self,
        count: int,
        script_pubkey: bytes | None = None,
        transactions: Sequence[bytes] | None = None,
    ) -> list[str]:
        """Mine ``count`` blocks paying ``script_pubkey`` (the faucet by default).

        Blocks take mempool transactions, unless ``transactions`` is given: then the first
        block holds exactly those (no mempool policy, consensus only). Returns block hashes.
        """
        with self.lock:
            explicit = None if transactions is None else [ChainTx.from_raw(r) for r in transactions]
            return self._mine(count, script_pubkey or self.faucet_key.script_pubkey, explicit)

    def _mine(self, count: int, script_pubkey: bytes, explicit: list[ChainTx] | None) -> list[str]:
        hashes = []
        for i in range(count):
            if explicit is not None and i == 0:
                txs, fees, from_mempool = explicit, self._fees_of(explicit), False
            else:
                (txs, fees), from_mempool = self._template(), True
            hashes.append(self._mine_one(script_pubkey, txs, fees, from_mempool))
        if hashes:
            self._rewrite_journal()
        return hashes

    def _template(self) -> tuple[list[ChainTx], int]:
        """Mempool transactions for the next block, by ancestor package fee rate."""
        budget = MAX_BLOCK_WEIGHT - COINBASE_WEIGHT_RESERVE
        return select_transactions(self.mempool, self.min_fee_rates.block, budget)

    def _fees_of(self, txs: Sequence[ChainTx]) -> int:
        """Fees of explicitly given transactions, counting only those whose inputs are known."""
        created: dict[OutPoint, int] = {}
        total = 0
        next_height = self.tip().height + 1
        for ctx in txs:
            values = []
            for txin in ctx.tx.inputs:
                coin = self._coin(txin.prevout, next_height)
                values.append(created.get(txin.prevout, coin.value if coin else None))
            if all(v is not None for v in values):
                total += max(
                    sum(v for v in values if v is not None) - sum(o.value for o in ctx.tx.outputs),
                    0,
                )
            for vout, out in enumerate(ctx.tx.outputs):
                created[OutPoint(ctx.txid, vout)] = out.value
        return total

    def _mine_one(
        self, script_pubkey: bytes, txs: Sequence[ChainTx], fees: int, from_mempool: bool
    ) -> str:
        tip = self.tip()
        height = tip.height + 1
        coinbase = ChainTx.from_tx(
            coinbase_transaction(height, script_pubkey, block_subsidy(height) + fees, txs)
        )
        block_time = max(int(time.time()) + self.clock_offset, tip.mediantime + 1)
        template = BlockTemplate(tip.hash, height, block_time, [coinbase, *txs])
        raw_block = solve(template)
        verdict = self.kernel.submit_block(raw_block)
        if not verdict.valid:
            if from_mempool and txs:
                log.error("kernel rejected a block of mempool transactions: %s", verdict.reason)
                for ctx in txs:
                    self._evict(ctx.txid)
            raise BlockRejectedError(verdict.reason)
        self.index.add_block(height, raw_block[:80], [coinbase, *txs], len(raw_block))
        self._after_block(txs)
        return block_hash(raw_block)[::-1].hex()

    def _after_block(self, txs: Sequence[ChainTx]) -> None:
        for ctx in txs:
            self.mempool.remove(ctx.txid)
        for ctx in txs:
            for txin in ctx.tx.inputs:
                spender = self.mempool.spender(txin.prevout)
                if spender is not None:
                    log.info(
                        "mempool: %s conflicts with a mined transaction", spender[0][::-1].hex()
                    )
                    self._evict(spender[0])

    def _evict(self, txid: bytes) -> None:
        for descendant in [*reversed(self.mempool.descendants(txid)), txid]:
            self.mempool.remove(descendant)

    # -- faucet -------------------------------------------------------------------------------

    def faucet(self, script_pubkey: bytes, sats: int) -> tuple[str, int]:
        """Pay ``sats`` to ``script_pubkey`` from the faucet; returns ``(txid, vout)``.

        The payment is left in the mempool. If the faucet's only funds are unconfirmed change
        at the mempool's chain limit, one block is mined first.
        """
        if sats < dust_threshold(script_pubkey):
            raise FaucetError(f"amount is below the dust limit ({dust_threshold(script_pubkey)})")
        with self.lock:
            try:
                return self._pay(script_pubkey, sats)
            except TxRejectedError as exc:
                if exc.reason != "too-long-mempool-chain":
                    raise
            self._mine(1, self.faucet_key.script_pubkey, None)
            return self._pay(script_pubkey, sats)

    def _faucet_fee_rate(self) -> int:
        """The faucet's rate in sat/vB: its usual one, or enough for the fee floors."""
        floor = max(self.min_fee_rates.block, self.min_fee_rates.mempool)
        return max(FAUCET_FEE_RATE, -(-floor // 1000) + 1)

    def _pay(self, script_pubkey: bytes, sats: int) -> tuple[str, int]:
        rate = self._faucet_fee_rate()
        coins = self._faucet_coins(sats, rate)
        tx = build_payment(
            self.faucet_key,
            coins,
            script_pubkey,
            sats,
            dust_threshold(self.faucet_key.script_pubkey),
            rate,
        )
        ctx = ChainTx.from_tx(tx)
        self._accept(ctx, int(time.time()), journal=True)
        return ctx.txid_hex, 0

    def _faucet_coins(self, sats: int, fee_rate: int) -> list[tuple[OutPoint, TxOut]]:
        """Mature confirmed faucet outputs first, then the faucet's unconfirmed change."""
        script = self.faucet_key.script_pubkey
        next_height = self.tip().height + 1
        candidates: list[tuple[OutPoint, TxOut]] = []
        for row in self.index.unspent_for_script(script, _FAUCET_SCAN_LIMIT):
            outpoint = OutPoint(row.txid, row.vout)
            mature = not row.coinbase or next_height - row.height >= COINBASE_MATURITY
            if mature and self.mempool.spender(outpoint) is None:
                candidates.append((outpoint, TxOut(row.value, row.script)))
        for entry in self.mempool:
            for vout, out in enumerate(entry.ctx.tx.outputs):
                outpoint = OutPoint(entry.ctx.txid, vout)
                if out.script_pubkey == script and self.mempool.spender(outpoint) is None:
                    candidates.append((outpoint, out))
        chosen: list[tuple[OutPoint, TxOut]] = []
        total = 0
        for candidate in candidates:
            if len(chosen) >= MAX_FAUCET_INPUTS:
                break
            chosen.append(candidate)
            total += candidate[1].value
            if total >= sats + estimated_vsize(len(chosen), 2) * fee_rate:
                return chosen
        raise FaucetError(
            f"the faucet has {total} spendable sats in {len(chosen)} outputs, not enough for "
            f"{sats}; mine more blocks to it (coinbases mature after {COINBASE_MATURITY})"
        )
