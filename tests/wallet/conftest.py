"""A BDK wallet on a temporary database, synced against a devnet chain over HTTP."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from coordinator.adapters.chain.esplora import EsploraClient
from coordinator.adapters.wallet.bdk_wallet import BdkWallet
from tests.support.chain import ChainHandle

WalletFactory = Callable[[], BdkWallet]


@pytest.fixture
async def esplora(devnet_chain: ChainHandle) -> AsyncIterator[EsploraClient]:
    client = EsploraClient(devnet_chain.url, retries=1, backoff_secs=0.05)
    yield client
    await client.aclose()


@pytest.fixture
async def open_wallet(
    tmp_path: Path, devnet_chain: ChainHandle, esplora: EsploraClient
) -> AsyncIterator[WalletFactory]:
    """Opens wallets on one key and one database (a reopened wallet is a restart)."""
    secret = secrets.token_bytes(32)
    opened: list[BdkWallet] = []

    def factory() -> BdkWallet:
        wallet = BdkWallet(
            secret=secret,
            network="regtest",
            storage_file=tmp_path / "bitcoin.db",
            esplora_url=devnet_chain.url,
            chain=esplora,
        )
        opened.append(wallet)
        return wallet

    yield factory
    for wallet in opened:
        await wallet.close()
