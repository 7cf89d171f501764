"""The coordinator's BDK wallet end to end against the devnet chain over HTTP."""

from __future__ import annotations

import os
import signal

import pytest

from coordinator.adapters.wallet.bdk_wallet import BdkWallet
from coordinator.domain.ports.wallet import FeeTooHighError, InsufficientFundsError
from coordinator_core.errors import ConfigError, ValidationError
from tests.support.chain import ChainHandle, new_taproot_key
from tests.wallet.conftest import WalletFactory
from ticketdlc.bitcoin.address import script_pubkey_to_address
from ticketdlc.bitcoin.tx import Transaction


async def _funded(wallet: BdkWallet, chain: ChainHandle, sats: int) -> str:
    await wallet.full_scan()
    address = await wallet.new_address()
    chain.faucet(address, sats)
    chain.mine(1)
    await wallet.sync()
    return address


async def test_funded_send_with_change_confirms_and_survives_restart(
    devnet_chain: ChainHandle, open_wallet: WalletFactory
) -> None:
    wallet = open_wallet()
    assert await wallet.full_scan() == devnet_chain.tip_height()
    address = await wallet.new_address()
    assert address.startswith("bcrt1p")
    devnet_chain.faucet(address, 1_000_000)
    await wallet.sync()
    pending = await wallet.balance()
    assert pending.untrusted_pending == 1_000_000 and pending.confirmed == 0

    devnet_chain.mine(1)
    await wallet.sync()
    assert (await wallet.balance()).confirmed == 1_000_000

    payee = new_taproot_key()
    payee_address = script_pubkey_to_address(payee.script_pubkey, "bcrt")
    sent = await wallet.send(payee_address, 300_000, fee_rate=3)
    assert sent.txid in devnet_chain.mempool_txids()
    tx = Transaction.parse(sent.raw)
    assert [o.value for o in tx.outputs if o.script_pubkey == payee.script_pubkey] == [300_000]
    assert sent.fee >= 3 * tx.vsize() and devnet_chain.tx(sent.txid)["fee"] == sent.fee
    assert (await wallet.balance()).trusted_pending == 1_000_000 - 300_000 - sent.fee

    devnet_chain.mine(1)
    await wallet.sync()
    balance = await wallet.balance()
    assert balance.confirmed == 1_000_000 - 300_000 - sent.fee
    assert balance.total == balance.confirmed
    outputs = await wallet.outputs()
    assert [(o.keychain, o.value) for o in outputs] == [("internal", balance.confirmed)]
    assert outputs[0].confirmation_height == devnet_chain.tip_height()
    assert len(await wallet.outputs(include_spent=True)) == 2
    await wallet.close()

    reopened = open_wallet()
    assert await reopened.balance() == balance  # persisted: no sync needed
    assert await reopened.new_address() != address  # the derivation index was persisted
    await reopened.sync()
    assert await reopened.balance() == balance


async def test_funding_psbt_locks_its_coins_until_released(
    devnet_chain: ChainHandle, open_wallet: WalletFactory
) -> None:
    wallet = open_wallet()
    await _funded(wallet, devnet_chain, 500_000)
    funding_script = new_taproot_key().script_pubkey

    first = await wallet.build_funding_psbt(funding_script, 200_000, fee_rate=2)
    with pytest.raises(InsufficientFundsError):
        await wallet.build_funding_psbt(funding_script, 200_000, fee_rate=2)
    await wallet.release_funding(first.psbt)
    second = await wallet.build_funding_psbt(funding_script, 200_000, fee_rate=2)

    signed = await wallet.sign_psbt(second.psbt)
    assert signed.txid == second.txid  # segwit: signing does not change the txid
    assert Transaction.parse(signed.raw).outputs[second.vout].script_pubkey == funding_script
    assert await wallet.broadcast(signed.raw) == second.txid
    assert await wallet.broadcast(signed.raw) == second.txid  # idempotent
    devnet_chain.mine(1)
    status = devnet_chain.tx_status(second.txid)
    assert status["confirmed"] is True
    await wallet.sync()
    assert (await wallet.balance()).confirmed == 500_000 - 200_000 - signed.fee


async def test_coins_no_kept_psbt_spends_are_unlocked(
    devnet_chain: ChainHandle, open_wallet: WalletFactory
) -> None:
    """A crash between building a funding PSBT and recording it leaves its coins locked, across
    restarts; unlocking every coin the recorded PSBTs do not spend frees them again."""
    wallet = open_wallet()
    await _funded(wallet, devnet_chain, 300_000)
    await _funded(wallet, devnet_chain, 300_000)
    script = new_taproot_key().script_pubkey
    kept = await wallet.build_funding_psbt(script, 200_000, fee_rate=2)
    orphan = await wallet.build_funding_psbt(script, 200_000, fee_rate=2)
    await wallet.close()
    reopened = open_wallet()  # the locks survived the restart
    with pytest.raises(InsufficientFundsError):
        await reopened.build_funding_psbt(script, 200_000, fee_rate=2)
    freed = await reopened.unlock_unclaimed([kept.psbt])
    assert len(freed) == 1 and freed[0] in {o.outpoint for o in await reopened.outputs()}
    again = await reopened.build_funding_psbt(script, 200_000, fee_rate=2)
    assert again.txid != kept.txid  # the kept PSBT's coin is still locked
    assert await reopened.unlock_unclaimed([kept.psbt, again.psbt]) == []
    del orphan


async def test_fee_limits_drain_and_bad_input(
    devnet_chain: ChainHandle, open_wallet: WalletFactory
) -> None:
    wallet = open_wallet()
    await _funded(wallet, devnet_chain, 100_000)
    payee = script_pubkey_to_address(new_taproot_key().script_pubkey, "bcrt")

    with pytest.raises(FeeTooHighError):
        await wallet.send(payee, 10_000, fee_rate=50, max_fee_sats=1_000)
    with pytest.raises(InsufficientFundsError):
        await wallet.send(payee, 200_000, fee_rate=1)
    with pytest.raises(ValidationError):
        await wallet.send("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", 1_000)
    assert devnet_chain.mempool_txids() == []

    drained = await wallet.send(payee, None, fee_rate=2)
    assert Transaction.parse(drained.raw).outputs[0].value == 100_000 - drained.fee
    devnet_chain.mine(1)
    await wallet.sync()
    assert (await wallet.balance()).total == 0


async def test_fee_rate_falls_back_when_the_target_is_missing(
    devnet_chain: ChainHandle, open_wallet: WalletFactory
) -> None:
    wallet = open_wallet()
    devnet_chain.set_fee_estimates({1: 7.1, 6: 2.0})
    assert await wallet.fee_rate(1) == 8
    devnet_chain.set_fee_estimates({3: 4.2, 6: 2.5})
    assert await wallet.fee_rate(1) == 5  # nearest target: the fastest available
    assert await wallet.fee_rate(6) == 3
    assert await wallet.fee_rate(144) == 3  # nearest faster target


async def test_a_dead_worker_is_replaced(
    devnet_chain: ChainHandle, open_wallet: WalletFactory
) -> None:
    wallet = open_wallet()
    await _funded(wallet, devnet_chain, 50_000)
    pid = wallet.worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGABRT)  # what a Rust panic does to the process
    assert (await wallet.balance()).confirmed == 50_000
    assert wallet.worker.restarts == 1 and wallet.worker.pid != pid


async def test_one_process_per_wallet_database(
    devnet_chain: ChainHandle, open_wallet: WalletFactory
) -> None:
    first = open_wallet()
    await first.full_scan()
    second = open_wallet()
    with pytest.raises(ConfigError, match="in use by another process"):
        await second.balance()
    await first.close()
    assert (await second.balance()).total == 0
