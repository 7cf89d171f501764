"""Construction of the concrete adapters from the settings.

This is the only module of the application layer that imports ``coordinator.adapters``
(import-linter enforces it): everything else is typed against the ports in
``coordinator.domain.ports`` and receives the objects built here. Production and devnet take the
same path: a devnet chain, Lightning node or oracle is just another server at a configured URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from coordinator.adapters.backup import litestream
from coordinator.adapters.backup.litestream import LitestreamReplicas
from coordinator.adapters.chain.esplora import EsploraClient
from coordinator.adapters.lightning.client import LndRestClient
from coordinator.adapters.oracle.client import NoaaOracleClient
from coordinator.adapters.signer.keymeld import KeymeldSigner
from coordinator.adapters.sqlite import identity, migrations
from coordinator.adapters.sqlite.competitions import SqliteCompetitionStore
from coordinator.adapters.sqlite.cpfp import SqliteCpfpStore
from coordinator.adapters.sqlite.database import Database
from coordinator.adapters.sqlite.replay import SqliteReplayGuard
from coordinator.adapters.sqlite.users import SqliteUserStore
from coordinator.adapters.wallet.bdk_wallet import BdkWallet
from coordinator.config import Settings
from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.backup import BackupReplicas
from coordinator.domain.ports.chain import ChainSource
from coordinator.domain.ports.competitions import CompetitionStore
from coordinator.domain.ports.cpfp import CpfpStore
from coordinator.domain.ports.lightning import LightningNode
from coordinator.domain.ports.oracle import OraclePort
from coordinator.domain.ports.replay import ReplayGuard
from coordinator.domain.ports.signer import Signer
from coordinator.domain.ports.users import UserStore
from coordinator.domain.ports.wallet import Wallet

log = logging.getLogger(__name__)

#: Names of the coordinator's databases, in the order they are opened.
DATABASES: tuple[str, ...] = tuple(migrations.DATABASES)


class Store(Protocol):
    """What the runtime needs of an open database: health checks and shutdown."""

    @property
    def name(self) -> str: ...

    @property
    def writer_alive(self) -> bool: ...

    @property
    def queue_depth(self) -> int: ...

    async def quick_check(self) -> bool: ...

    def close(self) -> None: ...


def chain_source(settings: Settings) -> ChainSource:
    """The Esplora client for ``[bitcoin] esplora_url``."""
    return EsploraClient(settings.bitcoin.esplora_url)


def wallet(
    settings: Settings, chain: ChainSource, root_secret: bytes, storage_file: Path | None = None
) -> Wallet:
    """The coordinator's BDK wallet on the BIP-32 root ``root_secret``, stored in
    ``storage_file`` (default ``[bitcoin] storage_file``)."""
    return BdkWallet(
        secret=root_secret,
        network=settings.bitcoin.network,
        storage_file=storage_file or settings.bitcoin.storage_file,
        esplora_url=settings.bitcoin.esplora_url,
        chain=chain,
    )


def lightning_node(settings: Settings) -> LightningNode:
    """The LND REST client for ``[lightning]``, on the configured network."""
    return LndRestClient.from_settings(settings.lightning, settings.bitcoin.network)


def oracle(settings: Settings, identity_secret: bytes) -> OraclePort:
    """The oracle client for ``[coordinator] oracle_url``, signing NIP-98 with the identity."""
    return NoaaOracleClient(settings.coordinator.oracle_url, identity_secret)


def signer(settings: Settings, keys: CoordinatorKeys) -> Signer:
    """The keymeld gateway client for ``[keymeld]`` (attested enclaves only)."""
    return KeymeldSigner.from_settings(settings.keymeld, settings.profile, keys)


def competition_store(db: Store) -> CompetitionStore:
    """The lifecycle's store on the competitions database."""
    if not isinstance(db, Database):
        raise TypeError("the competitions store needs an open SQLite database")
    return SqliteCompetitionStore(db)


def cpfp_store(db: Store) -> CpfpStore:
    """Fee bumping's store on the competitions database."""
    if not isinstance(db, Database):
        raise TypeError("the fee bumping store needs an open SQLite database")
    return SqliteCpfpStore(db)


def user_store(db: Store) -> UserStore:
    """The accounts store on the users database."""
    return SqliteUserStore(_sqlite(db))


def replay_guard(settings: Settings, db: Store) -> ReplayGuard:
    """The NIP-98 replay guard on the users database, shared by every listener and by every
    process on the data folder (``[auth] replay_capacity`` fresh events)."""
    return SqliteReplayGuard(_sqlite(db), settings.auth.replay_capacity)


def backup_replicas(settings: Settings) -> BackupReplicas:
    """The Litestream replicas of every database (``[backup]``)."""
    return LitestreamReplicas(settings)


def replicator_command(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """``litestream replicate`` on the generated configuration, and its environment."""
    return litestream.replicate_argv(settings), litestream.environment(settings)


def replicator_metrics_url(settings: Settings) -> str:
    """Where the replicator answers while it runs (its Prometheus endpoint)."""
    return f"http://127.0.0.1:{settings.backup.litestream_port}/metrics"


def backup_config_text(settings: Settings) -> str:
    """The generated Litestream configuration."""
    return litestream.config_text(settings)


async def open_databases(settings: Settings) -> dict[str, Store]:
    """Migrate and open every database; on failure, close the ones already opened."""
    databases: dict[str, Store] = {}
    try:
        for name in DATABASES:
            path = migrations.database_path(settings.db.data_folder, name)
            applied = await asyncio.to_thread(migrations.migrate, name, path)
            if applied:
                log.info("%s: applied migrations %s", name, ", ".join(applied))
            db = Database(name, path, settings.db, replicated=settings.backup.enabled)
            db.open()
            databases[name] = db
    except BaseException:
        close_databases(databases.values())
        raise
    return databases


def close_databases(databases: Iterable[Store]) -> None:
    """Close every database of ``databases``."""
    for db in databases:
        db.close()


async def recorded_identity(db: Store) -> str | None:
    """The identity key recorded in the competitions database, if any."""
    return await identity.recorded_identity(_sqlite(db))


async def record_identity(
    settings: Settings, db: Store, pubkey_hex: str, *, replacing: str | None = None
) -> None:
    """Record the identity key (replacing only the key ``replacing``, when given)."""
    await identity.record_identity(
        _sqlite(db), pubkey_hex, settings.coordinator.name, replacing=replacing
    )


async def competition_count(db: Store) -> int:
    return await identity.competition_count(_sqlite(db))


def _sqlite(db: Store) -> Database:
    if not isinstance(db, Database):
        raise TypeError("databases are opened by open_databases")
    return db


def database_path(settings: Settings, name: str) -> Path:
    return migrations.database_path(settings.db.data_folder, name)


def migrate(settings: Settings, name: str) -> list[str]:
    """Apply the pending migrations of one database; returns their ids."""
    return migrations.migrate(name, database_path(settings, name))


def rollback(settings: Settings, name: str, count: int) -> list[str]:
    """Roll back the ``count`` most recent migrations of one database; returns their ids."""
    return migrations.rollback(name, database_path(settings, name), count)


def migration_status(settings: Settings, name: str) -> list[tuple[str, bool]]:
    """``(migration id, applied)`` for every migration of one database."""
    return [
        (m.migration_id, m.applied) for m in migrations.status(name, database_path(settings, name))
    ]
