"""Pay-to-anchor standardness, fee floors, package relay (``POST /txs/package``), the package
fee rate miner and the replacement of CPFP children, on one devnet chain.

Every verdict comes from the chain's mempool (Bitcoin Core 30's rules and reasons) and, for
what it accepts, from the kernel's script checks; blocks are validated by the kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from coordinator.adapters.chain.esplora import EsploraClient
from coordinator.domain.ports.chain import BroadcastRejectedError, PackageRelayUnsupportedError
from tests.conftest import free_port
from tests.support.chain import (
    ChainHandle,
    TaprootKey,
    Utxo,
    new_taproot_key,
    running_chain,
    sign_cpfp_child,
)
from ticketdlc.bitcoin.anchor import P2A_SCRIPT_PUBKEY, SEQUENCE_RBF, anchor_output
from ticketdlc.bitcoin.fees import P2TR_KEY_SPEND, predict_weight
from ticketdlc.bitcoin.tx import Transaction, TxIn, TxOut
from ticketdlc.contract import CpfpChild, CpfpFundingInput, cpfp_child_template

COIN_VALUE = 100_000
PARENT_VSIZE = -(-predict_weight([P2TR_KEY_SPEND], [34, 4]) // 4)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainHandle]:
    with running_chain(Path(tmp_path_factory.mktemp("chain")), free_port()) as handle:
        yield handle


@pytest.fixture(autouse=True)
def no_fee_spike(chain: ChainHandle) -> Iterator[None]:
    chain.set_min_fee_rate(0)
    yield
    chain.set_min_fee_rate(0)


@dataclass
class Wallet:
    """Confirmed coins of one taproot key."""

    chain: ChainHandle
    key: TaprootKey

    def coin(self, sats: int = COIN_VALUE) -> Utxo:
        utxo = self.chain.faucet(self.key.script_pubkey, sats)
        self.chain.mine(1)
        return utxo

    def parent(self, utxo: Utxo, fee: int, anchor: int = 240) -> Transaction:
        """A transaction ending with a pay-to-anchor output, like a contract's."""
        outputs = [TxOut(utxo.value - fee - anchor, self.key.script_pubkey), anchor_output(anchor)]
        tx = Transaction(2, [TxIn(utxo.outpoint, b"", SEQUENCE_RBF)], outputs, 0)
        return self.key.sign(tx, [utxo.txout])

    def child(self, parent: Transaction, parent_fee: int, coin: Utxo, rate_vb: float) -> CpfpChild:
        funding = CpfpFundingInput(coin.outpoint, coin.txout, P2TR_KEY_SPEND)
        return cpfp_child_template(
            parent, parent_fee, [funding], self.key.script_pubkey, round(rate_vb * 250)
        )

    def sign(self, child: CpfpChild) -> Transaction:
        return sign_cpfp_child(self.key, child)


@pytest.fixture
def wallet(chain: ChainHandle) -> Wallet:
    return Wallet(chain, new_taproot_key())


def _wtxid(tx: Transaction) -> str:
    return tx.wtxid_hex()


def _confirmed(chain: ChainHandle, *txs: Transaction) -> bool:
    return all(chain.tx_status(tx.txid_hex())["confirmed"] for tx in txs)


def test_anchor_outputs_and_their_spends_are_standard(chain: ChainHandle, wallet: Wallet) -> None:
    coin, fee_coin = wallet.coin(), wallet.coin()
    dusty = wallet.parent(coin, 500, anchor=239)
    assert chain.broadcast(dusty.serialize()).reason == "dust"
    parent = wallet.parent(coin, 500)
    assert chain.broadcast(parent.serialize()).accepted
    assert chain.tx(parent.txid_hex())["vout"][1]["scriptpubkey_type"] == "anchor"
    child = wallet.child(parent, 500, fee_coin, 5)
    signed = wallet.sign(child)
    assert signed.inputs[0].witness == ()  # the anchor input carries nothing
    stuffed = signed.with_witness(0, [b"\x01"])
    assert chain.broadcast(stuffed.serialize()).reason == "bad-witness-nonstandard"
    assert chain.broadcast(signed.serialize()).accepted
    chain.mine(1)
    assert _confirmed(chain, parent, signed)


def test_other_unknown_witness_programs_stay_reserved(chain: ChainHandle, wallet: Wallet) -> None:
    coin = wallet.coin()
    future = bytes.fromhex("51021234")  # witness v1, 2 bytes, not the anchor
    paying = wallet.key.sign(
        Transaction(
            2,
            [TxIn(coin.outpoint)],
            [TxOut(50_000, future), TxOut(49_000, wallet.key.script_pubkey)],
            0,
        ),
        [coin.txout],
    )
    assert chain.broadcast(paying.serialize()).accepted
    chain.mine(1)
    spend = Transaction(2, [TxIn(paying.outpoint(0))], [TxOut(49_000, wallet.key.script_pubkey)], 0)
    assert chain.broadcast(spend.serialize()).reason == (
        "non-mandatory-script-verify-flag (Witness version reserved for soft-fork upgrades)"
    )
    assert chain.mine_transactions([spend.serialize()]).status_code == 200  # consensus-valid


def test_a_parent_below_the_floor_needs_its_child(chain: ChainHandle, wallet: Wallet) -> None:
    coin, fee_coin = wallet.coin(), wallet.coin()
    rates = chain.set_min_fee_rate(20)
    assert rates == {"block_sat_per_vb": 20.0, "mempool_sat_per_vb": 20.0}
    parent_fee = 5 * PARENT_VSIZE
    parent = wallet.parent(coin, parent_fee)
    assert parent.vsize() == PARENT_VSIZE
    refused = chain.broadcast(parent.serialize()).reason
    assert refused == f"mempool min fee not met, {parent_fee} < {20 * PARENT_VSIZE}"
    child = wallet.sign(wallet.child(parent, parent_fee, fee_coin, 25))
    assert chain.broadcast(child.serialize()).reason == "bad-txns-inputs-missingorspent"

    answer = chain.submit_package([parent.serialize(), child.serialize()])
    assert answer.status == 200 and answer.message == "success", answer
    package_fee = parent_fee + (fee_coin.value + 240 - child.outputs[0].value)
    package_vsize = parent.vsize() + child.vsize()
    assert package_fee * 1000 >= 25_000 * package_vsize
    for tx in (parent, child):
        entry = answer.tx_result(_wtxid(tx))
        assert entry["txid"] == tx.txid_hex() and entry["vsize"] == tx.vsize()
        fees = entry["fees"]
        assert fees["effective-feerate"] == pytest.approx(package_fee * 1000 // package_vsize / 1e8)
        assert fees["effective-includes"] == [_wtxid(parent), _wtxid(child)]
    assert answer.tx_result(_wtxid(parent))["fees"]["base"] == pytest.approx(parent_fee / 1e8)
    assert answer.result is not None and answer.result["replaced-transactions"] == []
    # Submitting it again changes nothing: both are mempool entries now.
    again = chain.submit_package([parent.serialize(), child.serialize()])
    assert again.message == "success"
    assert "effective-feerate" not in again.tx_result(_wtxid(child))["fees"]
    chain.mine(1)  # the miner takes the parent because its child pays for both
    assert _confirmed(chain, parent, child)


def test_a_package_below_the_floor_is_refused(chain: ChainHandle, wallet: Wallet) -> None:
    coin, fee_coin = wallet.coin(), wallet.coin()
    chain.set_min_fee_rate(20)
    parent = wallet.parent(coin, 5 * PARENT_VSIZE)
    child = wallet.sign(wallet.child(parent, 5 * PARENT_VSIZE, fee_coin, 15))
    answer = chain.submit_package([parent.serialize(), child.serialize()])
    assert answer.message == "transaction failed"
    assert answer.tx_result(_wtxid(parent))["error"].startswith("mempool min fee not met")
    assert answer.tx_result(_wtxid(child))["error"].startswith("mempool min fee not met")
    assert parent.txid_hex() not in chain.mempool_txids()


def test_a_zero_fee_parent_is_refused_even_with_a_child(chain: ChainHandle, wallet: Wallet) -> None:
    """Bitcoin Core 28+ waives the minimum relay fee inside packages only for TRUC (v3)
    parents; a version 2 parent must pay it alone."""
    coin, fee_coin = wallet.coin(), wallet.coin()
    parent = wallet.parent(coin, 0)
    minimum = -(-100 * parent.vsize() // 1000)
    assert chain.broadcast(parent.serialize()).reason == f"min relay fee not met, 0 < {minimum}"
    child = wallet.sign(wallet.child(parent, 0, fee_coin, 50))
    answer = chain.submit_package([parent.serialize(), child.serialize()])
    assert answer.message == "transaction failed"
    assert answer.tx_result(_wtxid(parent))["error"] == f"min relay fee not met, 0 < {minimum}"
    assert answer.tx_result(_wtxid(child))["error"] == "bad-txns-inputs-missingorspent"
    assert parent.txid_hex() not in chain.mempool_txids()


def test_the_miner_keeps_its_floor_and_children_pull_parents(
    chain: ChainHandle, wallet: Wallet
) -> None:
    coin, other, fee_coin = wallet.coin(), wallet.coin(), wallet.coin()
    parent = wallet.parent(coin, 5 * PARENT_VSIZE)
    cheap = wallet.parent(other, 5 * PARENT_VSIZE)
    assert chain.broadcast(parent.serialize()).accepted
    assert chain.broadcast(cheap.serialize()).accepted
    chain.set_min_fee_rate(20)  # the spike comes after they entered the mempool
    chain.mine(1)
    assert sorted(chain.mempool_txids()) == sorted([parent.txid_hex(), cheap.txid_hex()])
    child = wallet.sign(wallet.child(parent, 5 * PARENT_VSIZE, fee_coin, 30))
    assert chain.broadcast(child.serialize()).accepted
    chain.mine(1)
    assert _confirmed(chain, parent, child)
    assert chain.mempool_txids() == [cheap.txid_hex()]
    chain.set_min_fee_rate(0)
    chain.mine(1)
    assert _confirmed(chain, cheap)


def test_a_child_is_replaced_only_by_a_child_paying_more(
    chain: ChainHandle, wallet: Wallet
) -> None:
    coin, fee_coin = wallet.coin(), wallet.coin()
    chain.set_min_fee_rate(20)
    parent_fee = 5 * PARENT_VSIZE
    parent = wallet.parent(coin, parent_fee)
    first = wallet.sign(wallet.child(parent, parent_fee, fee_coin, 25))
    assert chain.submit_package([parent.serialize(), first.serialize()]).message == "success"

    second = wallet.sign(wallet.child(parent, parent_fee, fee_coin, 40))
    assert chain.broadcast(second.serialize()).accepted
    assert sorted(chain.mempool_txids()) == sorted([parent.txid_hex(), second.txid_hex()])
    third = wallet.sign(wallet.child(parent, parent_fee, fee_coin, 60))
    answer = chain.submit_package([parent.serialize(), third.serialize()])
    assert answer.message == "success"
    assert answer.result is not None
    assert answer.result["replaced-transactions"] == [second.txid_hex()]

    lower = wallet.sign(wallet.child(parent, parent_fee, fee_coin, 45))
    reason = chain.broadcast(lower.serialize()).reason
    assert reason is not None and reason.startswith(
        f"insufficient fee, rejecting replacement {lower.txid_hex()}; new feerate 0.000"
    )
    assert "BTC/kvB <= old feerate 0.00" in reason
    refused = chain.submit_package([parent.serialize(), lower.serialize()])
    assert refused.message == "transaction failed"
    assert refused.tx_result(_wtxid(lower))["error"].startswith("insufficient fee")

    # One sat more than the third child: a higher fee rate, but not the incremental relay fee.
    one_more = Transaction(
        2,
        third.without_witnesses().inputs,
        [TxOut(third.outputs[0].value - 1, wallet.key.script_pubkey)],
        0,
    )
    barely = wallet.key.sign(one_more, [anchor_output(240), fee_coin.txout], inputs=[1])
    assert chain.broadcast(barely.serialize()).reason == (
        f"insufficient fee, rejecting replacement {barely.txid_hex()}, not enough additional "
        f"fees to relay; 0.00000001 < 0.{-(-100 * barely.vsize() // 1000):08d}"
    )
    unconfirmed = chain.faucet(wallet.key.script_pubkey, 50_000)
    new_input = wallet.child(parent, parent_fee, fee_coin, 80)
    with_unconfirmed = wallet.key.sign(
        Transaction(
            2,
            [*new_input.tx.inputs, TxIn(unconfirmed.outpoint, b"", SEQUENCE_RBF)],
            [TxOut(new_input.change.value + 30_000, wallet.key.script_pubkey)],
            0,
        ),
        [*new_input.prevouts, unconfirmed.txout],
        inputs=[1, 2],
    )
    assert chain.broadcast(with_unconfirmed.serialize()).reason == (
        f"replacement-adds-unconfirmed, replacement {with_unconfirmed.txid_hex()} adds "
        "unconfirmed input, idx 2"
    )
    chain.mine(1)
    assert _confirmed(chain, parent, third)


def test_package_requests_are_checked_as_esplora_and_core_check_them(
    chain: ChainHandle, wallet: Wallet
) -> None:
    coin, other = wallet.coin(), wallet.coin()
    one, two = wallet.parent(coin, 1000), wallet.parent(other, 1000)

    too_many = chain.submit_package([one.serialize()] * 26)
    assert (too_many.status, too_many.text) == (400, "Exceeded maximum of 25 transactions")
    short = chain.http.post("/txs/package", json=["00" * 10])
    assert (short.status_code, short.text) == (400, "Invalid transaction size for item 0")
    not_hex = chain.http.post("/txs/package", json=["zz" * 100])
    assert (not_hex.status_code, not_hex.text) == (400, "Invalid transaction hex for item 0")
    empty = chain.submit_package([])
    assert empty.text == (
        'submitpackage RPC error: {"code": -8, "message": "Array must contain between 1 and 25 '
        'transactions."}'
    )
    garbage = chain.submit_package([b"\x02" * 80])
    assert '"code": -22' in garbage.text and "TX decode failed for tx 0" in garbage.text
    unrelated = chain.submit_package([one.serialize(), two.serialize()])
    assert unrelated.status == 400
    assert unrelated.text == (
        'submitpackage RPC error: {"code": -25, "message": "package topology disallowed. not '
        'child-with-parents or parents depend on each other."}'
    )
    capped = chain.submit_package([one.serialize()], {"maxfeerate": "0.00001"})
    assert capped.message == "transaction failed"
    assert capped.tx_result(_wtxid(one))["error"] == "max feerate exceeded"
    alone = chain.submit_package([one.serialize()])  # a package of one: like POST /tx
    assert alone.message == "success" and one.txid_hex() in chain.mempool_txids()
    assert chain.submit_package([one.serialize()], {"maxfeerate": "2"}).text == (
        "Invalid maxfeerate"
    )
    chain.mine(1)
    assert P2A_SCRIPT_PUBKEY.hex() in chain.get(f"/tx/{one.txid_hex()}/hex")


async def test_the_esplora_client_submits_packages(chain: ChainHandle, wallet: Wallet) -> None:
    coin, fee_coin = wallet.coin(), wallet.coin()
    chain.set_min_fee_rate(20)
    parent = wallet.parent(coin, 5 * PARENT_VSIZE)
    child = wallet.sign(wallet.child(parent, 5 * PARENT_VSIZE, fee_coin, 30))
    async with EsploraClient(chain.url) as client:
        refused = await client.submit_package([parent.serialize()])
        assert not refused.accepted and refused.message == "transaction failed"
        assert refused.results[0].error is not None
        assert refused.results[0].error.startswith("mempool min fee not met")

        result = await client.submit_package([parent.serialize(), child.serialize()])
        assert result.accepted and result.message == "success"
        assert [r.txid for r in result.results] == [parent.txid_hex(), child.txid_hex()]
        assert result.results[0].fee == 5 * PARENT_VSIZE
        assert result.results[1].vsize == child.vsize()
        rate = result.results[1].effective_fee_rate
        assert rate is not None and rate >= 30
        assert (await client.submit_package([parent.serialize(), child.serialize()])).accepted
        chain.mine(1)
        # Once confirmed, the parent is "already known": the package still counts as done.
        again = await client.submit_package([parent.serialize(), child.serialize()])
        assert again.accepted and again.results[0].error == "txn-already-known"

        unrelated = [wallet.parent(wallet.coin(), 1000), wallet.parent(wallet.coin(), 1000)]
        with pytest.raises(BroadcastRejectedError, match="package topology disallowed"):
            await client.submit_package([tx.serialize() for tx in unrelated])


async def test_a_backend_without_package_relay_is_named_clearly(
    chain: ChainHandle, wallet: Wallet
) -> None:
    parent = wallet.parent(wallet.coin(), 1000)
    chain.set_package_relay(False)
    try:
        async with EsploraClient(chain.url, retries=0) as client:
            with pytest.raises(PackageRelayUnsupportedError, match="does not relay packages"):
                await client.submit_package([parent.serialize()])
            assert await client.broadcast(parent.serialize()) == parent.txid_hex()
    finally:
        chain.set_package_relay(True)
