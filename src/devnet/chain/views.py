"""Esplora's JSON shapes for blocks, transactions, statuses, outspends and UTXOs."""

from __future__ import annotations

from typing import Any, Final

from devnet.chain.chain import TxLookup
from devnet.chain.index import BlockInfo, OutputRow
from devnet.chain.model import ChainTx
from devnet.chain.scripts import address_of, script_asm, script_type

REGTEST_DIFFICULTY: Final = 4.656542373906925e-10
COINBASE_VOUT: Final = 0xFFFF_FFFF

Json = dict[str, Any]


def status_json(block: BlockInfo | None) -> Json:
    """``{"confirmed": …, "block_height", "block_hash", "block_time"}``."""
    if block is None:
        return {"confirmed": False}
    return {
        "confirmed": True,
        "block_height": block.height,
        "block_hash": block.hash_hex,
        "block_time": block.time,
    }


def block_json(block: BlockInfo) -> Json:
    """Esplora's block summary (``GET /block/:hash``, ``GET /blocks``)."""
    return {
        "id": block.hash_hex,
        "height": block.height,
        "version": block.version,
        "timestamp": block.time,
        "tx_count": block.tx_count,
        "size": block.size,
        "weight": block.weight,
        "merkle_root": block.merkle_root[::-1].hex(),
        "previousblockhash": None if block.height == 0 else block.prev_hash[::-1].hex(),
        "mediantime": block.mediantime,
        "nonce": block.nonce,
        "bits": block.bits,
        "difficulty": REGTEST_DIFFICULTY,
    }


def output_json(script: bytes, value: int) -> Json:
    """One output (also used as an input's ``prevout``)."""
    out: Json = {
        "scriptpubkey": script.hex(),
        "scriptpubkey_asm": script_asm(script),
        "scriptpubkey_type": script_type(script),
        "value": value,
    }
    address = address_of(script)
    if address is not None:
        out["scriptpubkey_address"] = address
    return out


def tx_json(found: TxLookup) -> Json:
    """Esplora's transaction object (``GET /tx/:txid``, history pages)."""
    ctx: ChainTx = found.ctx
    coinbase = ctx.is_coinbase
    vin = []
    for txin, prevout in zip(ctx.tx.inputs, found.prevouts, strict=True):
        item: Json = {
            "txid": txin.prevout.txid_hex,
            "vout": txin.prevout.vout,
            "prevout": None if prevout is None else output_json(*prevout),
            "scriptsig": txin.script_sig.hex(),
            "scriptsig_asm": script_asm(txin.script_sig),
            "is_coinbase": coinbase,
            "sequence": txin.sequence,
        }
        if txin.witness:
            item["witness"] = [w.hex() for w in txin.witness]
        vin.append(item)
    return {
        "txid": ctx.txid_hex,
        "version": ctx.tx.version,
        "locktime": ctx.tx.locktime,
        "vin": vin,
        "vout": [output_json(out.script_pubkey, out.value) for out in ctx.tx.outputs],
        "size": len(ctx.raw),
        "weight": ctx.weight,
        "fee": found.fee,
        "status": status_json(found.block),
    }


def outspend_json(spent_txid: bytes | None, vin: int | None, block: BlockInfo | None) -> Json:
    """``{"spent": false}`` or the spending input and its status."""
    if spent_txid is None:
        return {"spent": False}
    return {
        "spent": True,
        "txid": spent_txid[::-1].hex(),
        "vin": vin,
        "status": status_json(block),
    }


def utxo_json(row: OutputRow, block: BlockInfo | None) -> Json:
    """One entry of ``GET /address/:address/utxo``."""
    return {
        "txid": row.txid[::-1].hex(),
        "vout": row.vout,
        "status": status_json(block),
        "value": row.value,
    }
