"""The coordinator's running state: settings, databases, identity and background tasks."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from coincurve import PublicKeyXOnly

from coordinator.app import composition
from coordinator.app.bitcoin import Bitcoin, start_bitcoin
from coordinator.app.composition import Store
from coordinator.app.tasks import BackgroundTasks
from coordinator.config import Settings
from coordinator_core.keyfile import load_or_create_secret

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything the HTTP layer and the background tasks share."""

    settings: Settings
    databases: dict[str, Store]
    secret_key: bytes
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    bitcoin: Bitcoin | None = None  # chain source and wallet; set by ``start``

    @property
    def competitions_db(self) -> Store:
        return self.databases["competitions"]

    @property
    def users_db(self) -> Store:
        return self.databases["users"]

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        """Migrate and open the databases, check the coordinator identity, start tasks."""
        secret = load_or_create_secret(settings.coordinator.private_key_file)
        databases = await composition.open_databases(settings)
        try:
            pubkey = PublicKeyXOnly.from_secret(secret).format().hex()
            await composition.record_identity(settings, databases["competitions"], pubkey)
            runtime = cls(settings=settings, databases=dict(databases), secret_key=secret)
            chain = composition.chain_source(settings)
            runtime.bitcoin = start_bitcoin(
                chain,
                composition.wallet(settings, chain, secret),
                runtime.tasks,
                settings.bitcoin.refresh_blocks_secs,
            )
        except BaseException:
            composition.close_databases(databases.values())
            raise
        return runtime

    async def health_problems(self) -> list[str]:
        """Reasons the service is unhealthy; empty when healthy. Runs ``quick_check`` per DB."""
        problems = [f"background task {name} is not running" for name in self.tasks.dead()]
        for name, db in self.databases.items():
            if not db.writer_alive:
                problems.append(f"database {name}: writer is not running")
            elif not await db.quick_check():
                problems.append(f"database {name}: quick_check failed")
        return problems

    async def stop(self) -> None:
        """Stop background tasks, then checkpoint (TRUNCATE) and close every database."""
        await self.tasks.stop(grace_secs=self.settings.api.shutdown_timeout_secs)
        if self.bitcoin is not None:
            await self.bitcoin.close()
        for db in self.databases.values():
            await asyncio.to_thread(db.close)
