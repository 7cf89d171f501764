"""The running coordinator scans its wallet at start and keeps it synced with the chain."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from coordinator.app.bitcoin import SYNC_TASK
from coordinator.app.runtime import Runtime
from coordinator.config import load_settings
from tests.support.chain import ChainHandle


async def _until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``condition`` (it reads the wallet; nothing signals an event we could wait on)."""
    async with asyncio.timeout(30):
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_wallet_scans_at_start_and_syncs_periodically(
    tmp_path: Path, devnet_chain: ChainHandle
) -> None:
    config = tmp_path / "coordinator.toml"
    config.write_text(
        f"""
profile = "test"
[db]
data_folder = "{tmp_path / "data"}"
[coordinator]
private_key_file = "{tmp_path / "key.pem"}"
[bitcoin]
esplora_url = "{devnet_chain.url}"
storage_file = "{tmp_path / "bitcoin.db"}"
refresh_blocks_secs = 0.2
"""
    )
    runtime = await Runtime.start(load_settings(config, env={}))
    try:
        assert SYNC_TASK in runtime.tasks.names()
        assert runtime.bitcoin is not None
        wallet = runtime.bitcoin.wallet
        address = await wallet.new_address()
        devnet_chain.faucet(address, 80_000)
        devnet_chain.mine(1)

        async def funded() -> bool:
            return (await wallet.balance()).confirmed == 80_000

        await _until(funded)
        assert runtime.tasks.dead() == []
    finally:
        await runtime.stop()
