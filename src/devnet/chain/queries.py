"""Read-only Esplora queries over the chain's index and mempool (each under the chain's lock)."""

from __future__ import annotations

from typing import Final

from devnet.chain.blocks import merkle_branch
from devnet.chain.chain import DevnetChain, TxLookup, confirmed_lookup, mempool_lookup
from devnet.chain.index import BlockInfo, IndexedTx, OutputRow, scripthash
from devnet.chain.model import ChainTx
from devnet.chain.views import Json, block_json, outspend_json, tx_json, utxo_json
from ticketdlc.bitcoin.tx import OutPoint

BLOCKS_PAGE: Final = 10
BLOCK_TXS_PAGE: Final = 25
CHAIN_TXS_PAGE: Final = 25
MEMPOOL_TXS_PAGE: Final = 50
MAX_UTXOS: Final = 1000
MAX_MEMPOOL_TXIDS: Final = 50_000


class TooManyError(Exception):
    """A result would exceed the bound Esplora applies (e.g. too many UTXOs)."""


class EsploraQueries:
    """What the Esplora routes need, computed from one consistent chain state."""

    def __init__(self, chain: DevnetChain) -> None:
        self.chain = chain

    # -- blocks -------------------------------------------------------------------------------

    def tip(self) -> BlockInfo:
        return self.chain.tip()

    def block(self, block_hash: bytes) -> BlockInfo | None:
        with self.chain.lock:
            return self.chain.index.block_by_hash(block_hash)

    def block_at(self, height: int) -> BlockInfo | None:
        with self.chain.lock:
            return self.chain.index.block_at(height)

    def blocks(self, start_height: int | None) -> list[Json]:
        with self.chain.lock:
            start = self.chain.tip().height if start_height is None else start_height
            return [block_json(b) for b in self.chain.index.blocks_descending(start, BLOCKS_PAGE)]

    def block_txids(self, block: BlockInfo) -> list[str]:
        with self.chain.lock:
            return [txid[::-1].hex() for txid in self.chain.index.block_txids(block.height)]

    def block_txs(self, block: BlockInfo, start: int) -> list[Json]:
        with self.chain.lock:
            rows = self.chain.index.block_transactions(block.height, start, BLOCK_TXS_PAGE)
            return [tx_json(self._confirmed(row)) for row in rows]

    def raw_block(self, block: BlockInfo) -> bytes:
        with self.chain.lock:
            return self.chain.kernel.block(block.height)

    def next_best(self, block: BlockInfo) -> str | None:
        following = self.block_at(block.height + 1)
        return None if following is None else following.hash_hex

    # -- transactions -------------------------------------------------------------------------

    def _confirmed(self, row: IndexedTx) -> TxLookup:
        return confirmed_lookup(self.chain.index, row)

    def tx(self, txid: bytes) -> TxLookup | None:
        return self.chain.lookup(txid)

    def outspends(self, txid: bytes) -> list[Json] | None:
        with self.chain.lock:
            entry = self.chain.mempool.get(txid)
            if entry is not None:
                count = len(entry.ctx.tx.outputs)
                rows: list[OutputRow | None] = [None] * count
            else:
                found = self.chain.index.transaction(txid)
                if found is None:
                    return None
                count = len(ChainTx.from_raw(found.raw).tx.outputs)
                by_vout = {row.vout: row for row in self.chain.index.outputs_of(txid)}
                rows = [by_vout.get(vout) for vout in range(count)]
            return [self._outspend(OutPoint(txid, vout), rows[vout]) for vout in range(count)]

    def outspend(self, txid: bytes, vout: int) -> Json | None:
        spends = self.outspends(txid)
        if spends is None or vout >= len(spends):
            return None
        return spends[vout]

    def _outspend(self, outpoint: OutPoint, row: OutputRow | None) -> Json:
        if row is not None and row.spent_txid is not None:
            block = (
                None if row.spent_height is None else self.chain.index.block_at(row.spent_height)
            )
            return outspend_json(row.spent_txid, row.spent_vin, block)
        spender = self.chain.mempool.spender(outpoint)
        if spender is not None:
            return outspend_json(spender[0], spender[1], None)
        return outspend_json(None, None, None)

    def merkle_proof(self, txid: bytes) -> Json | None:
        with self.chain.lock:
            found = self.chain.index.transaction(txid)
            if found is None:
                return None
            txids = self.chain.index.block_txids(found.height)
            branch = merkle_branch(txids, found.pos)
            return {
                "block_height": found.height,
                "merkle": [h[::-1].hex() for h in branch],
                "pos": found.pos,
            }

    # -- scripts ------------------------------------------------------------------------------

    def history(self, digest: bytes, after_txid: bytes | None, include_mempool: bool) -> list[Json]:
        """Newest first: up to 50 mempool txs (first page only), then 25 confirmed."""
        with self.chain.lock:
            out: list[Json] = []
            if include_mempool and after_txid is None:
                for entry in self.chain.mempool.for_scripthash(digest)[:MEMPOOL_TXS_PAGE]:
                    out.append(tx_json(mempool_lookup(entry)))
            if after_txid is not None and after_txid in self.chain.mempool:
                after_txid = None  # paging from a mempool tx starts the confirmed history
            rows = self.chain.index.history(digest, CHAIN_TXS_PAGE, after_txid)
            if rows is None:
                raise KeyError("last seen txid is not a confirmed transaction")
            out.extend(tx_json(self._confirmed(row)) for row in rows)
            return out

    def mempool_history(self, digest: bytes) -> list[Json]:
        with self.chain.lock:
            entries = self.chain.mempool.for_scripthash(digest)[:MEMPOOL_TXS_PAGE]
            return [tx_json(mempool_lookup(e)) for e in entries]

    def utxos(self, digest: bytes) -> list[Json]:
        with self.chain.lock:
            out: list[Json] = []
            for entry in self.chain.mempool.for_scripthash(digest):
                for vout, txout in enumerate(entry.ctx.tx.outputs):
                    outpoint = OutPoint(entry.ctx.txid, vout)
                    if self.chain.mempool.spender(outpoint) is not None:
                        continue
                    if digest == scripthash(txout.script_pubkey):
                        out.append(
                            {
                                "txid": entry.ctx.txid_hex,
                                "vout": vout,
                                "status": {"confirmed": False},
                                "value": txout.value,
                            }
                        )
            rows = self.chain.index.unspent_for_scripthash(digest, MAX_UTXOS + 1)
            blocks: dict[int, BlockInfo | None] = {}
            for row in rows:
                if self.chain.mempool.spender(OutPoint(row.txid, row.vout)) is not None:
                    continue
                if row.height not in blocks:
                    blocks[row.height] = self.chain.index.block_at(row.height)
                out.append(utxo_json(row, blocks[row.height]))
            if len(out) > MAX_UTXOS:
                raise TooManyError(f"too many unspent outputs (more than {MAX_UTXOS})")
            return out

    def stats(self, digest: bytes) -> Json:
        with self.chain.lock:
            chain_stats = self.chain.index.scripthash_stats(digest)
            funded = spent = 0
            funded_sum = spent_sum = 0
            entries = self.chain.mempool.for_scripthash(digest)
            for entry in entries:
                for out in entry.ctx.tx.outputs:
                    if scripthash(out.script_pubkey) == digest:
                        funded += 1
                        funded_sum += out.value
                for coin in entry.prevouts:
                    if scripthash(coin.script_pubkey) == digest:
                        spent += 1
                        spent_sum += coin.value
            mempool_stats = {
                "funded_txo_count": funded,
                "funded_txo_sum": funded_sum,
                "spent_txo_count": spent,
                "spent_txo_sum": spent_sum,
                "tx_count": len(entries),
            }
            return {"chain_stats": chain_stats, "mempool_stats": mempool_stats}

    # -- mempool ------------------------------------------------------------------------------

    def mempool_txids(self) -> list[str]:
        with self.chain.lock:
            return [entry.ctx.txid_hex for entry in self.chain.mempool][:MAX_MEMPOOL_TXIDS]

    def mempool_summary(self) -> Json:
        with self.chain.lock:
            entries = list(self.chain.mempool)
            return {
                "count": len(entries),
                "vsize": sum(e.ctx.vsize for e in entries),
                "total_fee": sum(e.fee for e in entries),
                "fee_histogram": [],
            }

    def mempool_recent(self) -> list[Json]:
        with self.chain.lock:
            entries = list(self.chain.mempool)[-10:]
            return [
                {
                    "txid": e.ctx.txid_hex,
                    "fee": e.fee,
                    "vsize": e.ctx.vsize,
                    "value": sum(o.value for o in e.ctx.tx.outputs),
                }
                for e in reversed(entries)
            ]
