"""Invalid transactions: the kernel rejects blocks holding them (the tip stays) and ``POST /tx``
refuses them with Bitcoin Core's reason; the valid variant of each is accepted and mined."""

from __future__ import annotations

from tests.support.chain import ChainHandle, TaprootKey, Utxo, new_taproot_key
from ticketdlc.bitcoin.address import script_pubkey_to_address
from ticketdlc.bitcoin.script import OP_CHECKSEQUENCEVERIFY, p2wsh_script, push_int
from ticketdlc.bitcoin.tx import Transaction, TxIn, TxOut


def _spend(
    key: TaprootKey,
    utxo: Utxo,
    value: int,
    *,
    sequence: int = 0xFFFF_FFFD,
    locktime: int = 0,
) -> Transaction:
    tx = Transaction(2, [TxIn(utxo.outpoint, b"", sequence)], [TxOut(value, key.script_pubkey)])
    return key.sign(Transaction(2, tx.inputs, tx.outputs, locktime), [utxo.txout])


def _funded(chain: ChainHandle, sats: int = 100_000) -> tuple[TaprootKey, Utxo]:
    key = new_taproot_key()
    utxo = chain.faucet(key.script_pubkey, sats)
    chain.mine(1)
    return key, utxo


def _assert_block_rejected(chain: ChainHandle, tx: Transaction, reason: str) -> None:
    tip, height = chain.tip_hash(), chain.tip_height()
    response = chain.mine_transactions([tx.serialize()])
    assert response.status_code == 400, response.text
    assert reason in response.text
    assert (chain.tip_hash(), chain.tip_height()) == (tip, height)


def test_bad_signature(devnet_chain: ChainHandle) -> None:
    key, utxo = _funded(devnet_chain)
    good = _spend(key, utxo, 99_000)
    signature = bytearray(good.inputs[0].witness[0])
    signature[5] ^= 0x01
    bad = good.with_witness(0, [bytes(signature)])

    _assert_block_rejected(devnet_chain, bad, "script-verify-flag-failed")
    result = devnet_chain.broadcast(bad.serialize())
    assert result.reason is not None
    assert result.reason.startswith("mandatory-script-verify-flag-failed")

    assert devnet_chain.broadcast(good.serialize()).txid == good.txid_hex()
    devnet_chain.mine(1)
    assert devnet_chain.tx_status(good.txid_hex())["confirmed"] is True


def test_overspend(devnet_chain: ChainHandle) -> None:
    key, utxo = _funded(devnet_chain)
    bad = _spend(key, utxo, 100_001)

    _assert_block_rejected(devnet_chain, bad, "bad-txns-in-belowout")
    result = devnet_chain.broadcast(bad.serialize())
    assert result.reason is not None
    assert result.reason.startswith("bad-txns-in-belowout")


def test_immature_coinbase(devnet_chain: ChainHandle) -> None:
    key = new_taproot_key()
    address_block = devnet_chain.mine(1, address=_address(key))[0]
    coinbase_txid = devnet_chain.get(f"/block/{address_block}/txid/0")
    coinbase = devnet_chain.tx(coinbase_txid)
    value = coinbase["vout"][0]["value"]
    utxo = Utxo(coinbase_txid, 0, value, key.script_pubkey)
    spend = _spend(key, utxo, value - 1_000)

    _assert_block_rejected(devnet_chain, spend, "bad-txns-premature-spend-of-coinbase")
    result = devnet_chain.broadcast(spend.serialize())
    assert result.reason is not None
    assert result.reason.startswith("bad-txns-premature-spend-of-coinbase")

    devnet_chain.mine(99)  # the spend would be in block +100: mature
    assert devnet_chain.broadcast(spend.serialize()).accepted


def test_csv_not_met(devnet_chain: ChainHandle) -> None:
    delay = 10
    witness_script = push_int(delay) + bytes((OP_CHECKSEQUENCEVERIFY,))
    script = p2wsh_script(witness_script)
    funding = devnet_chain.faucet(script, 50_000)
    devnet_chain.mine(1)
    payee = new_taproot_key()

    def spend(sequence: int) -> Transaction:
        return Transaction(
            2,
            [TxIn(funding.outpoint, b"", sequence, [witness_script])],
            [TxOut(49_000, payee.script_pubkey)],
        )

    # BIP68: the input's relative lock is not over yet.
    early = spend(delay)
    _assert_block_rejected(devnet_chain, early, "bad-txns-nonfinal")
    assert devnet_chain.broadcast(early.serialize()).reason == "non-BIP68-final"

    # BIP112: a sequence below what CHECKSEQUENCEVERIFY demands fails the script.
    short = spend(delay - 1)
    devnet_chain.mine(delay)
    _assert_block_rejected(devnet_chain, short, "script-verify-flag-failed")
    result = devnet_chain.broadcast(short.serialize())
    assert result.reason is not None
    assert result.reason.startswith("mandatory-script-verify-flag-failed")

    assert devnet_chain.broadcast(early.serialize()).accepted
    devnet_chain.mine(1)
    assert devnet_chain.tx_status(early.txid_hex())["confirmed"] is True


def test_absolute_locktime(devnet_chain: ChainHandle) -> None:
    key, utxo = _funded(devnet_chain)
    height = devnet_chain.tip_height()
    locked = _spend(key, utxo, 99_000, locktime=height + 3)

    _assert_block_rejected(devnet_chain, locked, "bad-txns-nonfinal")
    assert devnet_chain.broadcast(locked.serialize()).reason == "non-final"
    devnet_chain.mine(2)  # the next block is height + 3: locktime < height is still false
    assert devnet_chain.broadcast(locked.serialize()).reason == "non-final"
    devnet_chain.mine(1)
    assert devnet_chain.broadcast(locked.serialize()).accepted


def test_time_locktime_follows_median_time_past(devnet_chain: ChainHandle) -> None:
    key, utxo = _funded(devnet_chain)
    tip_time = devnet_chain.get(f"/block/{devnet_chain.tip_hash()}")["timestamp"]
    unlock = tip_time + 3600
    locked = _spend(key, utxo, 99_000, locktime=unlock)
    assert devnet_chain.broadcast(locked.serialize()).reason == "non-final"

    devnet_chain.set_time(unlock + 1)
    devnet_chain.mine(6)  # the median of the last 11 block times passes the lock
    assert devnet_chain.broadcast(locked.serialize()).accepted


def test_double_spend_replaces_only_when_it_pays_more(devnet_chain: ChainHandle) -> None:
    """Full RBF as in Bitcoin Core 28+: no opt-in signal, but the replacement must pay."""
    key, utxo = _funded(devnet_chain)
    first = _spend(key, utxo, 99_000)
    second = _spend(key, utxo, 90_000)  # a higher fee: replaces the first
    assert devnet_chain.broadcast(first.serialize()).accepted
    assert devnet_chain.broadcast(first.serialize()).accepted  # idempotent re-broadcast
    assert devnet_chain.broadcast(second.serialize()).accepted
    assert devnet_chain.mempool_txids() == [second.txid_hex()]
    again = devnet_chain.broadcast(first.serialize())
    assert again.reason is not None and again.reason.startswith(
        f"insufficient fee, rejecting replacement {first.txid_hex()}; new feerate"
    )
    devnet_chain.mine(1)
    assert devnet_chain.broadcast(first.serialize()).reason == "bad-txns-inputs-missingorspent"
    result = devnet_chain.broadcast(second.serialize())
    assert result.reason is not None
    assert "txn-already-known" in result.reason


def test_standardness(devnet_chain: ChainHandle) -> None:
    key, utxo = _funded(devnet_chain)
    dust = key.sign(
        Transaction(
            2,
            [TxIn(utxo.outpoint)],
            [TxOut(99_000, key.script_pubkey), TxOut(100, key.script_pubkey)],
        ),
        [utxo.txout],
    )
    assert devnet_chain.broadcast(dust.serialize()).reason == "dust"
    no_fee = _spend(key, utxo, 100_000)
    assert devnet_chain.broadcast(no_fee.serialize()).reason == "min relay fee not met, 0 < 12"
    reason = devnet_chain.broadcast(b"\x01\x02").reason
    assert reason is not None
    assert reason.startswith("TX decode failed")


def _address(key: TaprootKey) -> str:
    return script_pubkey_to_address(key.script_pubkey, "bcrt")
