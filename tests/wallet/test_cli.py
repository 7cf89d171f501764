"""``coordinator wallet …`` against a devnet chain, as an operator runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.adapters.chain.esplora import EsploraClient
from coordinator.adapters.wallet.bdk_wallet import BdkWallet
from coordinator.domain.keys import CoordinatorKeys
from coordinator_core.keyfile import load_or_create_secret
from tests.support.chain import ChainHandle, new_taproot_key
from ticketdlc.bitcoin.address import script_pubkey_to_address


@pytest.fixture
def config(tmp_path: Path, devnet_chain: ChainHandle) -> Path:
    path = tmp_path / "coordinator.toml"
    path.write_text(
        f"""
profile = "test"
[db]
data_folder = "{tmp_path / "data"}"
[coordinator]
private_key_file = "{tmp_path / "key.pem"}"
[bitcoin]
network = "regtest"
esplora_url = "{devnet_chain.url}"
storage_file = "{tmp_path / "bitcoin.db"}"
"""
    )
    return path


def _wallet(config: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "-c", str(config), "-l", "warning", "wallet", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result


def test_wallet_commands(config: Path, devnet_chain: ChainHandle) -> None:
    address = _wallet(config, "address").stdout.strip()
    assert address.startswith("bcrt1p")
    devnet_chain.faucet(address, 500_000)
    devnet_chain.mine(1)

    lines = _wallet(config, "balance").stdout.splitlines()
    balance = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in lines}
    assert balance["confirmed"] == balance["total"] == 500_000

    payee = script_pubkey_to_address(new_taproot_key().script_pubkey, "bcrt")
    sent = _wallet(config, "send", "--to", payee, "--amount", "100000", "--fee-rate", "2")
    txid = sent.stdout.split()[1]
    assert txid in devnet_chain.mempool_txids()
    devnet_chain.mine(1)

    outputs = json.loads(_wallet(config, "outputs").stdout)
    assert [o["keychain"] for o in outputs] == ["internal"]
    assert outputs[0]["value"] < 400_000 and outputs[0]["confirmation_height"] is not None
    assert len(json.loads(_wallet(config, "outputs", "--all").stdout)) == 2

    fees = json.loads(_wallet(config, "fees").stdout)
    assert set(fees) == {"estimates", "used"} and fees["used"]["1"] >= 1
    assert "synced to height" in _wallet(config, "sync", "--full").stdout

    drained = _wallet(config, "send", "--to", payee, "--all", "--fee-rate", "1")
    assert drained.stdout.startswith("txid ")


def test_wallet_errors_are_clear(config: Path, devnet_chain: ChainHandle, tmp_path: Path) -> None:
    usage = _wallet(config, "send", "--to", "x", ok=False)
    assert "exactly one of --amount and --all" in usage.stderr
    bad = _wallet(config, "send", "--to", "not-an-address", "--amount", "5000", ok=False)
    assert bad.stderr.startswith("error: ") and "address" in bad.stderr
    poor = _wallet(config, "send", "--to", _wallet(config, "address").stdout.strip(),
                   "--amount", "5000", ok=False)  # fmt: skip
    assert "Insufficient funds" in poor.stderr


async def test_wallet_in_use_by_the_server(
    config: Path, devnet_chain: ChainHandle, tmp_path: Path
) -> None:
    _wallet(config, "address")  # records the identity, as the server's start would
    chain = EsploraClient(devnet_chain.url)
    running = BdkWallet(
        secret=CoordinatorKeys(load_or_create_secret(tmp_path / "key.pem")).wallet_root_secret,
        network="regtest",
        storage_file=tmp_path / "bitcoin.db",
        esplora_url=devnet_chain.url,
        chain=chain,
    )
    try:
        await running.new_address()
        locked = _wallet(config, "balance", ok=False)
        assert "in use by another process" in locked.stderr
    finally:
        await running.close()
        await chain.aclose()
