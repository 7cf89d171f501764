"""The coordinator's Bitcoin side at run time: chain source, wallet and the wallet sync task.

At start the wallet does a full scan (retried every ``refresh_blocks_secs`` until the chain
source answers), then syncs its revealed scripts every ``refresh_blocks_secs``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from coordinator.app.tasks import BackgroundTasks, run_periodically
from coordinator.domain.ports.chain import ChainSource
from coordinator.domain.ports.wallet import Wallet
from coordinator_core.errors import CoordinatorError

log = logging.getLogger(__name__)

SYNC_TASK = "bitcoin_sync"


@dataclass
class Bitcoin:
    """The chain source and the wallet, shared by the HTTP layer and the background tasks."""

    chain: ChainSource
    wallet: Wallet

    async def close(self) -> None:
        await self.wallet.close()
        await self.chain.aclose()


def start_bitcoin(
    chain: ChainSource, wallet: Wallet, tasks: BackgroundTasks, interval_secs: float
) -> Bitcoin:
    """Share the chain source and the wallet, and start the wallet sync task."""
    bitcoin = Bitcoin(chain, wallet)
    tasks.start(SYNC_TASK, lambda: wallet_sync_loop(bitcoin.wallet, interval_secs))
    return bitcoin


async def wallet_sync_loop(wallet: Wallet, interval_secs: float) -> None:
    """Full scan once (retried until it works), then a sync every ``interval_secs``."""
    while True:
        try:
            height = await wallet.full_scan()
            log.info("wallet full scan done at height %d", height)
            break
        except CoordinatorError as exc:
            log.warning("wallet full scan failed (%s); retrying in %.0fs", exc, interval_secs)
        await asyncio.sleep(interval_secs)

    async def step() -> None:
        await wallet.sync()

    await asyncio.sleep(interval_secs)
    await run_periodically(SYNC_TASK, interval_secs, step)
