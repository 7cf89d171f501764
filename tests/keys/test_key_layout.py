"""Data folders made with the single-key layout (identity = wallet root = the seed): refused at
start-up with the command to run, migrated by ``coordinator keys migrate``, their funds swept by
``coordinator wallet sweep-legacy``. Real SQLite databases, a real BDK wallet, a devnet chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.adapters.chain.esplora import EsploraClient
from coordinator.adapters.sqlite import migrations
from coordinator.adapters.sqlite.database import Database
from coordinator.adapters.sqlite.identity import record_identity, recorded_identity
from coordinator.adapters.wallet.bdk_wallet import BdkWallet
from coordinator.app.keys import legacy_wallet_store, load_keys
from coordinator.app.runtime import Runtime
from coordinator.config import Settings, load_settings
from coordinator.domain.key_layout import KeyLayout, LegacyKeyLayoutError, key_layout
from coordinator.domain.keys import CoordinatorKeys
from coordinator_core.errors import ConfigError
from coordinator_core.keyfile import load_or_create_secret
from tests.support.chain import ChainHandle

LEGACY_FUNDS = 250_000


@pytest.fixture
def config(tmp_path: Path, devnet_chain: ChainHandle) -> Path:
    config = tmp_path / "coordinator.toml"
    config.write_text(
        f"""
profile = "test"
[db]
data_folder = "{tmp_path / "data"}"
[coordinator]
private_key_file = "{tmp_path / "key.pem"}"
[bitcoin]
network = "regtest"
esplora_url = "{devnet_chain.url}"
storage_file = "{tmp_path / "data" / "bitcoin.db"}"
refresh_blocks_secs = 0.2
"""
    )
    return config


@pytest.fixture
def settings(config: Path) -> Settings:
    return load_settings(config, env={})


def _cli(config: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "coordinator", "-c", str(config), "-l", "warning", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result


def _open_competitions(settings: Settings) -> Database:
    path = migrations.database_path(settings.db.data_folder, "competitions")
    migrations.migrate("competitions", path)
    db = Database("competitions", path, settings.db)
    db.open()
    return db


async def _make_single_key_folder(
    settings: Settings, chain: ChainHandle, *, with_identity: bool = True
) -> str:
    """What the previous version left: the seed's own key recorded as identity, and a funded
    wallet whose BIP-32 root is the seed. Returns the old wallet's address."""
    seed = load_or_create_secret(settings.coordinator.private_key_file)
    if with_identity:
        db = _open_competitions(settings)
        try:
            legacy = CoordinatorKeys(seed).legacy_pubkey_hex
            await record_identity(db, legacy, "coordinator", replacing=None)
        finally:
            db.close()
    esplora = EsploraClient(chain.url)
    old = BdkWallet(
        secret=seed,
        network="regtest",
        storage_file=settings.bitcoin.storage_file,
        esplora_url=chain.url,
        chain=esplora,
    )
    try:
        address = await old.new_address()
        chain.faucet(address, LEGACY_FUNDS)
        chain.mine(1)
        await old.sync()
        assert (await old.balance()).confirmed == LEGACY_FUNDS
    finally:
        await old.close()
        await esplora.aclose()
    return address


async def _identity_of(settings: Settings) -> str | None:
    db = _open_competitions(settings)
    try:
        return await recorded_identity(db)
    finally:
        db.close()


def test_layout_is_told_apart_by_the_recorded_identity() -> None:
    keys = CoordinatorKeys(bytes(range(32)))
    assert key_layout(None, keys, wallet_store_exists=False) is KeyLayout.FRESH
    assert key_layout(None, keys, wallet_store_exists=True) is KeyLayout.LEGACY
    assert key_layout(keys.identity_pubkey_hex, keys, True) is KeyLayout.CURRENT
    assert key_layout(keys.legacy_pubkey_hex, keys, True) is KeyLayout.LEGACY
    assert keys.identity_pubkey_hex != keys.legacy_pubkey_hex
    other = CoordinatorKeys(bytes(32 * [7]))
    with pytest.raises(ConfigError, match="does not match"):
        key_layout(other.identity_pubkey_hex, keys, True)


async def test_a_fresh_folder_records_the_identity_key(settings: Settings) -> None:
    runtime = await Runtime.start(settings)
    try:
        keys = load_keys(settings)
        assert runtime.keys == keys
        assert await _identity_of(settings) == keys.identity_pubkey_hex
    finally:
        await runtime.stop()


@pytest.mark.parametrize("with_identity", [True, False], ids=["identity-row", "wallet-only"])
async def test_single_key_folder_is_refused_and_left_untouched(
    config: Path, settings: Settings, devnet_chain: ChainHandle, with_identity: bool
) -> None:
    await _make_single_key_folder(settings, devnet_chain, with_identity=with_identity)
    store_before = settings.bitcoin.storage_file.read_bytes()
    identity_before = await _identity_of(settings)

    with pytest.raises(LegacyKeyLayoutError, match="coordinator keys migrate"):
        await Runtime.start(settings)
    refused = _cli(config, "wallet", "balance", ok=False)
    assert "coordinator keys migrate" in refused.stderr
    assert "wallet sweep-legacy" in refused.stderr

    assert await _identity_of(settings) == identity_before
    assert settings.bitcoin.storage_file.read_bytes() == store_before
    assert not legacy_wallet_store(settings).exists()


async def test_migrate_then_sweep_moves_the_funds_to_the_new_wallet(
    config: Path, settings: Settings, devnet_chain: ChainHandle
) -> None:
    old_address = await _make_single_key_folder(settings, devnet_chain)
    keys = load_keys(settings)

    migrated = _cli(config, "keys", "migrate").stdout
    assert f"identity is now {keys.identity_pubkey_hex}" in migrated
    assert "wallet sweep-legacy" in migrated
    assert await _identity_of(settings) == keys.identity_pubkey_hex
    assert legacy_wallet_store(settings).exists()
    assert "nothing to migrate" in _cli(config, "keys", "migrate").stdout

    # The new wallet is on other descriptors: empty, with other addresses.
    assert _cli(config, "wallet", "address").stdout.strip() != old_address
    swept = _cli(config, "wallet", "sweep-legacy", "--fee-rate", "2").stdout
    txid = swept.split()[1]
    assert txid in devnet_chain.mempool_txids()
    devnet_chain.mine(1)
    fee = int(swept.split("fee ")[1].rstrip(")\n"))
    assert 0 < fee < 1_000

    lines = _cli(config, "wallet", "balance").stdout.splitlines()
    balance = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in lines}
    assert balance["confirmed"] == LEGACY_FUNDS - fee
    assert "nothing to sweep" in _cli(config, "wallet", "sweep-legacy").stdout

    # And the coordinator starts on the migrated folder, with the new wallet.
    runtime = await Runtime.start(settings)
    try:
        assert runtime.bitcoin is not None
        await runtime.bitcoin.wallet.sync()
        assert (await runtime.bitcoin.wallet.balance()).confirmed == LEGACY_FUNDS - fee
    finally:
        await runtime.stop()


async def test_migration_resumes_after_a_crash_between_its_steps(
    config: Path, settings: Settings, devnet_chain: ChainHandle
) -> None:
    await _make_single_key_folder(settings, devnet_chain)
    # The wallet store was moved, then the process died before the identity was swapped.
    settings.bitcoin.storage_file.rename(legacy_wallet_store(settings))
    with pytest.raises(LegacyKeyLayoutError):
        await Runtime.start(settings)
    assert "identity is now" in _cli(config, "keys", "migrate").stdout
    assert await _identity_of(settings) == load_keys(settings).identity_pubkey_hex
    assert legacy_wallet_store(settings).exists()


async def test_migration_refuses_a_folder_with_competitions(
    config: Path, settings: Settings, devnet_chain: ChainHandle
) -> None:
    await _make_single_key_folder(settings, devnet_chain)
    db = _open_competitions(settings)
    try:
        await db.write(
            lambda conn: conn.execute(
                "INSERT INTO competitions (id, created_at, event_submission) VALUES (?, ?, ?)",
                ("0190a0a0-0000-7000-8000-000000000000", "2026-01-01T00:00:00Z", "{}"),
            )
        )
    finally:
        db.close()
    refused = _cli(config, "keys", "migrate", ok=False)
    assert "competitions bound to the single-key identity" in refused.stderr
    assert not legacy_wallet_store(settings).exists()
