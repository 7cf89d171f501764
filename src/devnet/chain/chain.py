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
from collections.abc import Sequence
from dataclasses import dataclass
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
from devnet.chain.model import ChainTx, Coin
from devnet.chain.policy import (
    MAX_ANCESTORS,
    TxRejectedError,
    check_final,
    check_inputs,
    check_transaction,
    dust_threshold,
)
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


class BlockRejectedError(Exception):
    """The kernel refused a block; the tip did not move."""


class FaucetError(Exception):
    """The faucet cannot pay (not enough mature funds, bad amount)."""


class ClockError(ValueError):
    """A requested block time the chain cannot use."""


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
                self._accept(ctx, int(when or time.time()), journal=False)
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

    # -- transactions -------------------------------------------------------------------------

    def submit_transaction(self, raw: bytes) -> str:
        """Accept a transaction into the mempool; returns its txid.

        A transaction already in the mempool is accepted again without effect (as
        ``sendrawtransaction`` does). Raises :class:`TxRejectedError` with Core's reason.
        """
        try:
            ctx = ChainTx.from_raw(raw)
        except (DecodeError, ValueError) as exc:
            raise TxRejectedError("TX decode failed", str(exc)) from exc
        with self.lock:
            if ctx.txid not in self.mempool:
                self._accept(ctx, int(time.time()), journal=True)
        return ctx.txid_hex

    def _coin(self, outpoint: OutPoint, next_height: int) -> Coin | None:
        return self.index.coin(outpoint) or self.mempool.coin(outpoint, next_height)

    def _accept(self, ctx: ChainTx, now: int, journal: bool) -> None:
        tip = self.tip()
        next_height = tip.height + 1
        check_transaction(ctx)
        check_final(ctx, next_height, tip.mediantime)
        coins: list[Coin] = []
        parents: set[bytes] = set()
        for txin in ctx.tx.inputs:
            if self.mempool.spender(txin.prevout) is not None:
                raise TxRejectedError("txn-mempool-conflict")
            coin = self._coin(txin.prevout, next_height)
            if coin is None:
                if self.index.transaction(ctx.txid) is not None:
                    raise TxRejectedError("txn-already-known")
                raise TxRejectedError("bad-txns-inputs-missingorspent")
            if coin.in_mempool:
                parents.add(txin.prevout.txid)
            coins.append(coin)
        fee = check_inputs(ctx, coins, next_height, self.median_time_past)
        if self.mempool.ancestor_count(parents) + 1 > MAX_ANCESTORS:
            raise TxRejectedError(
                "too-long-mempool-chain", f"exceeds ancestor limit [{MAX_ANCESTORS}]"
            )
        if not self.mempool.has_room(ctx.weight):
            raise TxRejectedError("mempool full")
        failing = self.kernel.verify_scripts(
            ctx.raw, [(coin.script_pubkey, coin.value) for coin in coins]
        )
        if failing is not None:
            raise TxRejectedError(
                "mandatory-script-verify-flag-failed",
                f"script of input {failing} does not verify",
            )
        self.mempool.add(MempoolEntry(ctx, fee, now, tuple(coins), frozenset(parents)))
        if journal:
            with self._journal_path.open("a") as handle:
                handle.write(f"{ctx.raw.hex()} {now}\n")

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
        """Mempool transactions that fit a block, parents before children."""
        chosen: list[ChainTx] = []
        included: set[bytes] = set()
        weight = COINBASE_WEIGHT_RESERVE
        fees = 0
        for entry in self.mempool:
            if any(p in self.mempool and p not in included for p in entry.parents):
                continue
            if weight + entry.ctx.weight > MAX_BLOCK_WEIGHT:
                continue
            chosen.append(entry.ctx)
            included.add(entry.ctx.txid)
            weight += entry.ctx.weight
            fees += entry.fee
        return chosen, fees

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

    def _pay(self, script_pubkey: bytes, sats: int) -> tuple[str, int]:
        coins = self._faucet_coins(sats)
        tx = build_payment(
            self.faucet_key,
            coins,
            script_pubkey,
            sats,
            dust_threshold(self.faucet_key.script_pubkey),
        )
        ctx = ChainTx.from_tx(tx)
        self._accept(ctx, int(time.time()), journal=True)
        return ctx.txid_hex, 0

    def _faucet_coins(self, sats: int) -> list[tuple[OutPoint, TxOut]]:
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
            if total >= sats + estimated_vsize(len(chosen), 2) * FAUCET_FEE_RATE:
                return chosen
        raise FaucetError(
            f"the faucet has {total} spendable sats in {len(chosen)} outputs, not enough for "
            f"{sats}; mine more blocks to it (coinbases mature after {COINBASE_MATURITY})"
        )
