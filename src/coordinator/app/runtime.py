"""The coordinator's running state: settings, databases, identity and background tasks."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from coordinator.app import composition
from coordinator.app.auth.accounts import Accounts
from coordinator.app.auth.admin_token import AdminToken, load_admin_token
from coordinator.app.auth.pow import ProofOfWork
from coordinator.app.backup import Backups, restore_missing_at_start
from coordinator.app.bitcoin import Bitcoin, start_bitcoin
from coordinator.app.competitions.context import Lifecycle
from coordinator.app.competitions.fee_bumping import FeeBumper
from coordinator.app.competitions.service import CompetitionServices
from coordinator.app.composition import Store
from coordinator.app.health import (
    IntegrityMonitor,
    dependency_problems,
    health_problems,
    track_dependencies,
)
from coordinator.app.keys import ensure_key_layout, load_keys
from coordinator.app.tasks import BackgroundTasks
from coordinator.config import Settings
from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.lightning import LightningNode
from coordinator.domain.ports.oracle import OraclePort
from coordinator.domain.ports.replay import ReplayGuard
from coordinator_core.errors import ConfigError
from coordinator_core.faults import ENV_VAR as CRASH_POINTS_ENV
from coordinator_core.faults import crash_points_requested

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything the HTTP layer and the background tasks share."""

    settings: Settings
    databases: dict[str, Store]
    keys: CoordinatorKeys
    admin_token: AdminToken
    replay_guard: ReplayGuard  # NIP-98, on users.db
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    bitcoin: Bitcoin | None = None  # chain source and wallet; set by ``start``
    integrity: IntegrityMonitor | None = None  # cached quick_check verdicts; set by ``start``
    lightning: LightningNode | None = None
    oracle: OraclePort | None = None
    competitions: CompetitionServices | None = None  # the lifecycle; set by ``start``
    accounts: Accounts | None = None  # users.db accounts; set by ``start``
    pow: ProofOfWork | None = None  # sign-up proof of work; set by ``start``
    backups: Backups | None = None  # replication, when ``[backup] enabled``

    @property
    def competitions_db(self) -> Store:
        return self.databases["competitions"]

    @property
    def users_db(self) -> Store:
        return self.databases["users"]

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        """Load the admin token (first: a bad one stops the start before anything else is
        touched), migrate and open the databases, check the key layout, start the wallet and
        tasks."""
        if settings.profile == "production" and crash_points_requested():
            raise ConfigError(
                f"the production profile refuses to start with {CRASH_POINTS_ENV} set"
            )
        admin_token = await asyncio.to_thread(
            load_admin_token,
            settings.admin.token_file,
            create_if_missing=settings.profile != "production",
        )
        keys = load_keys(settings)
        track_dependencies()
        # A missing database comes back from its replica before migrations touch it.
        await asyncio.to_thread(restore_missing_at_start, settings)
        databases = await composition.open_databases(settings)
        try:
            await ensure_key_layout(settings, keys, databases["competitions"])
            runtime = cls(
                settings=settings,
                databases=databases,
                keys=keys,
                admin_token=admin_token,
                replay_guard=composition.replay_guard(settings, databases["users"]),
            )
            users = composition.user_store(runtime.users_db)
            runtime.accounts = await asyncio.to_thread(
                Accounts, users, settings.auth.reset_challenge_ttl_secs
            )
            runtime.pow = ProofOfWork(settings.pow, users.signups_since)
            runtime.integrity = IntegrityMonitor(
                runtime.databases, settings.db.integrity_check_interval_secs
            )
            await runtime.integrity.refresh()
            runtime.integrity.start(runtime.tasks)
            chain = composition.chain_source(settings)
            runtime.bitcoin = start_bitcoin(
                chain,
                composition.wallet(settings, chain, keys.wallet_root_secret),
                runtime.tasks,
                settings.bitcoin.refresh_blocks_secs,
            )
            runtime.start_competitions()
            if settings.backup.enabled:
                runtime.backups = Backups.start(settings)
        except BaseException:
            composition.close_databases(databases.values())
            raise
        return runtime

    def start_competitions(self) -> None:
        """Build the lifecycle on the ports and start its background work (after
        reconciliation). Outside production, a missing Lightning or signer configuration
        disables competitions with a logged reason instead of stopping the server."""
        assert self.bitcoin is not None
        settings = self.settings
        try:
            self.lightning = composition.lightning_node(settings)
            signer = composition.signer(settings, self.keys)
        except ConfigError as exc:
            if settings.profile == "production":
                raise
            log.error("competitions are disabled until a restart: %s", exc.message)
            return
        self.oracle = composition.oracle(settings, self.keys.identity_secret)
        lifecycle = Lifecycle(
            settings=settings,
            store=composition.competition_store(self.competitions_db),
            lightning=self.lightning,
            chain=self.bitcoin.chain,
            wallet=self.bitcoin.wallet,
            oracle=self.oracle,
            signer=signer,
            keys=self.keys,
        )
        if settings.cpfp.enabled:
            store = composition.cpfp_store(self.competitions_db)
            lifecycle.fee_bumper = FeeBumper(lifecycle, store, settings.cpfp)
        self.competitions = CompetitionServices(lifecycle)
        self.competitions.start(self.tasks)

    def health_problems(self) -> list[str]:
        """Reasons the service is unhealthy; empty when healthy. No I/O: integrity verdicts
        come from the periodic check."""
        assert self.integrity is not None, "runtime not started"
        return health_problems(self.tasks, self.databases, self.integrity)

    def readiness_problems(self) -> list[str]:
        """Reasons not to send traffic here: health, replication, unreachable services."""
        problems = self.health_problems()
        if self.backups is not None:
            problems += self.backups.problems()
        return problems + dependency_problems()

    async def stop(self) -> None:
        """Stop background tasks, then checkpoint (TRUNCATE) and close every database."""
        await self.tasks.stop(grace_secs=self.settings.api.shutdown_timeout_secs)
        if self.bitcoin is not None:
            await self.bitcoin.close()
        signer = None if self.competitions is None else self.competitions.lc.signer
        for client in (self.lightning, self.oracle, signer):
            close = getattr(client, "aclose", None)
            if close is not None:
                await close()
        for db in self.databases.values():
            await asyncio.to_thread(db.close)
        if self.backups is not None:
            await self.backups.stop()
