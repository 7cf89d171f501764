"""Build the chain source and the wallet from the ``[bitcoin]`` settings.

Production and devnet take the same path: an Esplora URL and a wallet database. Nothing here
imports or starts devnet code; a devnet chain is just another Esplora server.
"""

from __future__ import annotations

from coordinator.adapters.chain.esplora import EsploraClient
from coordinator.adapters.wallet.bdk_wallet import BdkWallet
from coordinator.config import Settings
from coordinator_core.keyfile import load_or_create_secret


def chain_source(settings: Settings) -> EsploraClient:
    """The Esplora client for ``[bitcoin] esplora_url``."""
    return EsploraClient(settings.bitcoin.esplora_url)


def wallet(settings: Settings, chain: EsploraClient) -> BdkWallet:
    """The coordinator's wallet, keyed by ``[coordinator] private_key_file``."""
    return BdkWallet(
        secret=load_or_create_secret(settings.coordinator.private_key_file),
        network=settings.bitcoin.network,
        storage_file=settings.bitcoin.storage_file,
        esplora_url=settings.bitcoin.esplora_url,
        chain=chain,
    )
