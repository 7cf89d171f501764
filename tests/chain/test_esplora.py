"""The Esplora routes: shapes and paging as Esplora (and BDK's client) expect them."""

from __future__ import annotations

from devnet.chain.index import scripthash
from tests.support.chain import ChainHandle, new_taproot_key
from ticketdlc.bitcoin.address import script_pubkey_to_address
from ticketdlc.bitcoin.tx import Transaction, TxIn, TxOut


def test_transaction_status_outspends_and_blocks(devnet_chain: ChainHandle) -> None:
    key = new_taproot_key()
    address = script_pubkey_to_address(key.script_pubkey, "bcrt")
    utxo = devnet_chain.faucet(address, 25_000)

    tx = devnet_chain.tx(utxo.txid)
    assert tx["status"] == {"confirmed": False}
    assert tx["vout"][0] == {
        "scriptpubkey": key.script_pubkey.hex(),
        "scriptpubkey_asm": f"OP_PUSHNUM_1 OP_PUSHBYTES_32 {key.script_pubkey[2:].hex()}",
        "scriptpubkey_type": "v1_p2tr",
        "scriptpubkey_address": address,
        "value": 25_000,
    }
    assert tx["fee"] > 0 and tx["weight"] > 0 and tx["size"] > 0
    assert tx["vin"][0]["prevout"]["value"] > 25_000
    assert len(tx["vin"][0]["witness"]) == 1
    assert (
        devnet_chain.get(f"/tx/{utxo.txid}/hex")
        == devnet_chain.http.get(f"/tx/{utxo.txid}/raw").content.hex()
    )
    assert devnet_chain.get(f"/tx/{utxo.txid}/outspend/0") == {"spent": False}

    block_hash = devnet_chain.mine(1)[0]
    status = devnet_chain.tx_status(utxo.txid)
    block = devnet_chain.get(f"/block/{block_hash}")
    assert status == {
        "confirmed": True,
        "block_height": block["height"],
        "block_hash": block_hash,
        "block_time": block["timestamp"],
    }
    assert devnet_chain.get(f"/block-height/{block['height']}") == block_hash
    assert devnet_chain.get(f"/block/{block_hash}/txids")[1] == utxo.txid
    assert devnet_chain.get(f"/block/{block_hash}/status") == {
        "in_best_chain": True,
        "height": block["height"],
        "next_best": None,
    }
    assert len(bytes.fromhex(devnet_chain.get(f"/block/{block_hash}/header"))) == 80
    coinbase = devnet_chain.tx(devnet_chain.get(f"/block/{block_hash}/txid/0"))
    assert coinbase["vin"][0]["is_coinbase"] is True and coinbase["vin"][0]["prevout"] is None
    recent = devnet_chain.get("/blocks")
    assert [b["height"] for b in recent] == list(range(block["height"], block["height"] - 10, -1))
    assert devnet_chain.get(f"/blocks/{block['height'] - 1}")[0]["id"] == block["previousblockhash"]

    spend = key.sign(
        Transaction(2, [TxIn(utxo.outpoint)], [TxOut(24_000, key.script_pubkey)]), [utxo.txout]
    )
    assert devnet_chain.broadcast(spend.serialize()).txid == spend.txid_hex()
    assert devnet_chain.get(f"/tx/{utxo.txid}/outspends")[0] == {
        "spent": True,
        "txid": spend.txid_hex(),
        "vin": 0,
        "status": {"confirmed": False},
    }
    proof = devnet_chain.get(f"/tx/{utxo.txid}/merkle-proof")
    assert proof["block_height"] == block["height"] and proof["pos"] == 1


def test_scripthash_history_pages_and_utxos(devnet_chain: ChainHandle) -> None:
    key = new_taproot_key()
    digest = scripthash(key.script_pubkey).hex()
    confirmed = [devnet_chain.faucet(key.script_pubkey, 10_000 + i).txid for i in range(30)]
    devnet_chain.mine(1)
    pending = [devnet_chain.faucet(key.script_pubkey, 20_000 + i).txid for i in range(3)]

    first = devnet_chain.get(f"/scripthash/{digest}/txs")
    assert [t["txid"] for t in first[:3]] == pending[::-1]
    assert len(first) == 3 + 25
    rest = devnet_chain.get(f"/scripthash/{digest}/txs/chain/{first[-1]['txid']}")
    seen = [t["txid"] for t in first[3:] + rest]
    assert sorted(seen) == sorted(confirmed) and len(seen) == len(set(seen))
    assert devnet_chain.get(f"/scripthash/{digest}/txs/chain/{rest[-1]['txid']}") == []
    assert [t["txid"] for t in devnet_chain.get(f"/scripthash/{digest}/txs/mempool")] == (
        pending[::-1]
    )

    utxos = devnet_chain.get(f"/scripthash/{digest}/utxo")
    assert len(utxos) == 33
    assert sum(u["value"] for u in utxos) == sum(10_000 + i for i in range(30)) + sum(
        20_000 + i for i in range(3)
    )
    stats = devnet_chain.get(f"/scripthash/{digest}")
    assert stats["chain_stats"]["tx_count"] == 30 and stats["mempool_stats"]["tx_count"] == 3
    address = script_pubkey_to_address(key.script_pubkey, "bcrt")
    assert len(devnet_chain.get(f"/address/{address}/utxo")) == 33
    assert devnet_chain.get(f"/address/{address}")["address"] == address


def test_fee_estimates_and_bad_input(devnet_chain: ChainHandle) -> None:
    estimates = devnet_chain.get("/fee-estimates")
    assert estimates["1"] >= estimates["6"] > 0
    devnet_chain.set_fee_estimates({6: 3.5})
    assert devnet_chain.get("/fee-estimates") == {"6": 3.5}
    assert devnet_chain.http.get("/tx/nothex").status_code == 400
    assert devnet_chain.http.get(f"/tx/{'00' * 32}").status_code == 404
    assert devnet_chain.http.get("/address/bc1notanaddress/utxo").status_code == 400
    unauthorized = devnet_chain.http.post("/devnet/mine", json={"blocks": 1})
    assert unauthorized.status_code == 401
    too_many = devnet_chain.http.post(
        "/devnet/mine",
        json={"blocks": 100_000},
        headers={"Authorization": f"Bearer {devnet_chain.token}"},
    )
    assert too_many.status_code == 400
    huge = devnet_chain.http.post("/tx", content=b"00" * 3_000_000)
    assert huge.status_code == 413
