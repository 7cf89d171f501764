"""The coordinator's Esplora client against the devnet chain (the same code path as a real
Esplora): idempotent broadcast, confirmations, block times, fee estimates, bounded answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from coordinator.adapters.chain.esplora import EsploraClient
from coordinator.domain.ports.chain import BroadcastRejectedError, fee_rate_for_target
from coordinator_core.errors import TransientError, ValidationError
from tests.conftest import free_port
from tests.support.chain import ChainHandle, TaprootKey, Utxo, new_taproot_key
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut


@pytest.fixture
async def client(devnet_chain: ChainHandle) -> AsyncIterator[EsploraClient]:
    esplora = EsploraClient(devnet_chain.url)
    yield esplora
    await esplora.aclose()


def _spend(key: TaprootKey, utxo: Utxo, value: int) -> bytes:
    tx = Transaction(2, [TxIn(utxo.outpoint)], [TxOut(value, key.script_pubkey)])
    return key.sign(tx, [utxo.txout]).serialize()


async def test_broadcast_is_idempotent_and_confirmations_count_from_the_tip(
    devnet_chain: ChainHandle, client: EsploraClient
) -> None:
    key = new_taproot_key()
    utxo = devnet_chain.faucet(key.script_pubkey, 60_000)
    devnet_chain.mine(1)
    raw = _spend(key, utxo, 59_000)
    txid = Transaction.parse(raw).txid_hex()

    assert await client.tx_status(txid) is None
    assert await client.broadcast(raw) == txid
    assert await client.broadcast(raw) == txid
    assert await client.confirmations(txid) == 0
    status = await client.tx_status(txid)
    assert status is not None and not status.confirmed

    devnet_chain.mine(1)
    assert await client.broadcast(raw) == txid  # already mined: still a success
    assert await client.confirmations(txid) == 1
    devnet_chain.mine(2)
    assert await client.confirmations(txid) == 3
    status = await client.tx_status(txid)
    assert status is not None and status.block_height == await client.tip_height() - 2
    assert await client.raw_transaction(txid) == raw

    spend = await client.output_spend(utxo.txid, utxo.vout)
    assert spend is not None and spend.spent and spend.txid == txid and spend.vin == 0
    unspent = await client.output_spend(txid, 0)
    assert unspent is not None and not unspent.spent


async def test_output_spends_lists_every_output(
    devnet_chain: ChainHandle, client: EsploraClient
) -> None:
    key = new_taproot_key()
    utxo = devnet_chain.faucet(key.script_pubkey, 80_000)
    devnet_chain.mine(1)
    tx = Transaction(
        2,
        [TxIn(utxo.outpoint)],
        [TxOut(40_000, key.script_pubkey), TxOut(39_000, key.script_pubkey)],
    )
    raw = key.sign(tx, [utxo.txout]).serialize()
    txid = await client.broadcast(raw)
    devnet_chain.mine(1)
    child = Transaction(
        2, [TxIn(OutPoint.from_display(txid, 1))], [TxOut(38_000, key.script_pubkey)]
    )
    child_txid = await client.broadcast(key.sign(child, [tx.outputs[1]]).serialize())

    spends = await client.output_spends(txid)
    assert [s.spent for s in spends] == [False, True]
    assert (spends[1].txid, spends[1].vin) == (child_txid, 0)
    assert spends[1].status is not None and not spends[1].status.confirmed
    assert await client.output_spends("11" * 32) == []
    with pytest.raises(ValidationError):
        await client.output_spends("not-a-txid")


async def test_rejections_carry_the_reason(
    devnet_chain: ChainHandle, client: EsploraClient
) -> None:
    key = new_taproot_key()
    utxo = devnet_chain.faucet(key.script_pubkey, 60_000)
    with pytest.raises(BroadcastRejectedError) as rejected:
        await client.broadcast(_spend(key, utxo, 70_000))
    assert "bad-txns-in-belowout" in rejected.value.reason
    with pytest.raises(ValidationError):
        await client.broadcast(b"\x00\x01")


async def test_block_time_at_depth_and_median_time(
    devnet_chain: ChainHandle, client: EsploraClient
) -> None:
    hashes = devnet_chain.mine(8)
    blocks = [devnet_chain.get(f"/block/{h}") for h in hashes]
    assert await client.block_time_at_depth(1) == blocks[-1]["timestamp"]
    assert await client.block_time_at_depth(6) == blocks[-6]["timestamp"]
    assert await client.median_time_past() == blocks[-1]["mediantime"]
    assert await client.block_time_at_depth(10_000) == devnet_chain.get("/blocks/0")[0]["timestamp"]


async def test_fee_estimates(devnet_chain: ChainHandle, client: EsploraClient) -> None:
    devnet_chain.set_fee_estimates({2: 4.5, 144: 1.0})
    estimates = await client.fee_estimates()
    assert estimates == {2: 4.5, 144: 1.0}
    assert fee_rate_for_target(estimates, 1) == 5
    assert fee_rate_for_target({}, 1) == 1


async def test_unreachable_server_is_transient() -> None:
    async with EsploraClient(
        f"http://127.0.0.1:{free_port()}", retries=2, backoff_secs=0.01
    ) as client:
        with pytest.raises(TransientError):
            await client.tip_height()


async def test_retries_server_errors_and_bounds_answers() -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if request.url.path == "/blocks/tip/height":
            return httpx.Response(503) if calls < 3 else httpx.Response(200, text="123")
        return httpx.Response(200, content=b"x" * 5_000)

    transport = httpx.MockTransport(flaky)
    async with EsploraClient(
        "http://esplora.test", retries=3, backoff_secs=0.01, max_response_bytes=4_096,
        transport=transport,
    ) as client:  # fmt: skip
        assert await client.tip_height() == 123
        assert calls == 3
        with pytest.raises(ValidationError, match="larger than the size limit"):
            await client.fee_estimates()
        with pytest.raises(ValidationError, match="not a txid"):
            await client.tx_status("../../etc")
