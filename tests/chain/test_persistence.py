"""Restarting the devnet chain keeps its height, its UTXOs and a consistent mempool."""

from __future__ import annotations

from pathlib import Path

from devnet.chain.index import scripthash
from tests.conftest import free_port
from tests.support.chain import ChainHandle, new_taproot_key, running_chain
from ticketdlc.bitcoin.tx import Transaction, TxIn, TxOut


def _utxos(chain: ChainHandle, script: bytes) -> list[tuple[str, int, int]]:
    rows = chain.get(f"/scripthash/{scripthash(script).hex()}/utxo")
    return sorted((u["txid"], u["vout"], u["value"]) for u in rows)


def test_restart_keeps_chain_utxos_and_mempool(tmp_path: Path) -> None:
    data_dir = tmp_path / "chain"
    key = new_taproot_key()
    with running_chain(data_dir, free_port()) as chain:
        confirmed = chain.faucet(key.script_pubkey, 70_000)
        chain.mine(3)
        pending = chain.faucet(key.script_pubkey, 30_000)
        spend = key.sign(
            Transaction(2, [TxIn(confirmed.outpoint)], [TxOut(69_000, key.script_pubkey)]),
            [confirmed.txout],
        )
        assert chain.broadcast(spend.serialize()).accepted
        height, tip = chain.tip_height(), chain.tip_hash()
        utxos = _utxos(chain, key.script_pubkey)
        mempool = sorted(chain.mempool_txids())
        assert chain.process is not None
        chain.process.stop()  # SIGTERM: graceful shutdown flushes the kernel

    with running_chain(data_dir, free_port()) as chain:
        assert (chain.tip_height(), chain.tip_hash()) == (height, tip)
        assert _utxos(chain, key.script_pubkey) == utxos
        assert sorted(chain.mempool_txids()) == mempool
        assert pending.txid in mempool and spend.txid_hex() in mempool
        # The reloaded mempool still guards against double spends that do not pay more.
        double = key.sign(
            Transaction(2, [TxIn(confirmed.outpoint)], [TxOut(69_500, key.script_pubkey)]),
            [confirmed.txout],
        )
        reason = chain.broadcast(double.serialize()).reason
        assert reason is not None and reason.startswith("insufficient fee, rejecting replacement")
        chain.mine(1)
        assert chain.mempool_txids() == []
        assert chain.tx_status(spend.txid_hex())["confirmed"] is True


def test_lost_index_is_rebuilt_from_the_kernel(tmp_path: Path) -> None:
    data_dir = tmp_path / "chain"
    key = new_taproot_key()
    with running_chain(data_dir, free_port()) as chain:
        utxo = chain.faucet(key.script_pubkey, 40_000)
        chain.mine(2)
        height, tip = chain.tip_height(), chain.tip_hash()
        before = chain.tx(utxo.txid)
    for path in data_dir.glob("index.sqlite*"):
        path.unlink()
    with running_chain(data_dir, free_port()) as chain:
        assert (chain.tip_height(), chain.tip_hash()) == (height, tip)
        assert chain.tx(utxo.txid) == before
        assert _utxos(chain, key.script_pubkey) == [(utxo.txid, utxo.vout, 40_000)]


def test_killed_chain_keeps_its_mined_blocks(tmp_path: Path) -> None:
    """The kernel flushes lazily; blocks it lost in a crash are replayed from the index."""
    data_dir = tmp_path / "chain"
    with running_chain(data_dir, free_port()) as chain:
        chain.mine(15)
        height, tip = chain.tip_height(), chain.tip_hash()
        assert chain.process is not None and chain.process.process is not None
        chain.process.process.kill()
        chain.process.process.wait()
    with running_chain(data_dir, free_port()) as chain:
        assert (chain.tip_height(), chain.tip_hash()) == (height, tip)
        chain.mine(1)
        assert chain.tip_height() == height + 1
