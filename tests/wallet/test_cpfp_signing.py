"""The wallet signs a CPFP child it did not build: the anchor input (someone else's, keyless)
keeps an empty witness, the wallet's coins are signed and locked, and the devnet chain (Bitcoin
Core's rules, the kernel's script checks) takes the child; a replacement may reuse the locked
coins, nothing else may."""

from __future__ import annotations

import pytest

from coordinator.adapters.wallet.bdk_wallet import BdkWallet
from coordinator.domain.ports.wallet import CoinLockedError, WalletOutput
from tests.support.chain import ChainHandle, new_taproot_key
from tests.wallet.conftest import WalletFactory
from ticketdlc.bitcoin.address import address_to_script_pubkey
from ticketdlc.bitcoin.anchor import SEQUENCE_RBF, anchor_output
from ticketdlc.bitcoin.fees import P2TR_KEY_SPEND
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from ticketdlc.contract.cpfp import CpfpChild, CpfpFundingInput, cpfp_child_template

PARENT_FEE = 100  # 0.8 sat/vB: below a raised mempool floor


def _anchored_parent(chain: ChainHandle) -> Transaction:
    key = new_taproot_key()
    coin = chain.faucet(key.script_pubkey, 60_000)
    chain.mine(1)
    outputs = [TxOut(60_000 - PARENT_FEE - 240, key.script_pubkey), anchor_output(240)]
    tx = Transaction(2, [TxIn(coin.outpoint, b"", SEQUENCE_RBF)], outputs, 0)
    return key.sign(tx, [coin.txout])


def _child(parent: Transaction, coins: list[WalletOutput], change: str, rate_vb: int) -> CpfpChild:
    funding = [
        CpfpFundingInput(
            OutPoint.parse(c.outpoint),
            TxOut(c.value, address_to_script_pubkey(c.address or "")),
            P2TR_KEY_SPEND,
        )
        for c in coins
    ]
    return cpfp_child_template(
        parent, PARENT_FEE, funding, address_to_script_pubkey(change), rate_vb * 250
    )


async def _coins(wallet: BdkWallet, chain: ChainHandle, *values: int) -> list[WalletOutput]:
    await wallet.full_scan()
    for value in values:
        chain.faucet(await wallet.new_address(), value)
    chain.mine(1)
    await wallet.sync()
    return sorted(await wallet.outputs(), key=lambda o: o.value)


async def test_a_child_of_a_foreign_parent_is_signed_locked_released_and_replaced(
    devnet_chain: ChainHandle, open_wallet: WalletFactory
) -> None:
    chain = devnet_chain
    wallet = open_wallet()
    small, large = await _coins(wallet, chain, 20_000, 80_000)
    parent = _anchored_parent(chain)

    # Signing locks; releasing unlocks (a child that was never broadcast).
    draft = _child(parent, [large], await wallet.new_address(), 4)
    await wallet.sign_and_lock(draft.tx, draft.prevouts, {0})
    assert [o.locked for o in await wallet.outputs()] == [False, True]
    await wallet.release_coins([large.outpoint])
    assert [o.locked for o in await wallet.outputs()] == [False, False]
    with pytest.raises(ValueError, match="one spent output per input"):
        await wallet.sign_and_lock(draft.tx, draft.prevouts[:1], {0})

    chain.set_min_fee_rate(5)  # the parent alone is refused now
    assert (chain.broadcast(parent.serialize()).reason or "").startswith("mempool min fee not met")

    change = await wallet.new_address()
    child = _child(parent, [small], change, 10)
    signed = await wallet.sign_and_lock(child.tx, child.prevouts, {0})
    tx = Transaction.parse(signed.raw)
    assert tx.inputs[0].witness == () and len(tx.inputs[1].witness) == 1
    assert tx.vsize() == child.child_vsize and signed.fee == child.fee
    assert signed.txid == child.tx.txid_hex()  # segwit: the witnesses leave the txid alone
    locked = {o.outpoint: o.locked for o in await wallet.outputs()}
    assert locked == {small.outpoint: True, large.outpoint: False}
    with pytest.raises(CoinLockedError, match="locked"):
        await wallet.sign_and_lock(child.tx, child.prevouts, {0})

    answer = chain.submit_package([parent.serialize(), signed.raw])
    assert answer.message == "success", answer.text
    await wallet.broadcast(signed.raw)  # in the mempool already: recorded in the wallet

    # A replacement keeps the locked coin and adds the other one.
    higher = _child(parent, [small, large], change, 30)
    with pytest.raises(CoinLockedError):
        await wallet.sign_and_lock(higher.tx, higher.prevouts, {0})
    replacement = await wallet.sign_and_lock(
        higher.tx, higher.prevouts, {0}, relock=[small.outpoint]
    )
    assert chain.broadcast(replacement.raw).accepted
    mempool = set(chain.mempool_txids())
    assert replacement.txid in mempool and signed.txid not in mempool
    chain.set_min_fee_rate(25)
    chain.mine(1)
    assert chain.tx_status(parent.txid_hex())["confirmed"] is True
    assert chain.tx_status(replacement.txid)["confirmed"] is True
    await wallet.sync()
    (left,) = await wallet.outputs()
    assert left.value == 240 + small.value + large.value - replacement.fee and not left.locked
    chain.set_min_fee_rate(0)
