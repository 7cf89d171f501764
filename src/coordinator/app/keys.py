"""The coordinator's keys at start-up, and moving a data folder off the single-key layout.

Every run loads the seed (``[coordinator] private_key_file``) and checks the data folder's key
layout (:mod:`coordinator.domain.key_layout`) before opening the wallet: a fresh folder records
the identity, a single-key folder is refused with the command to run.

``coordinator keys migrate`` (server stopped) moves a single-key folder to per-role keys:

1. the wallet store (``[bitcoin] storage_file`` and its SQLite side files) is renamed to
   ``<name>.legacy<suffix>``; the next start creates a new one on the wallet-root descriptors;
2. ``coordinator_metadata.pubkey`` is swapped from the seed's own key to the identity key.

Each step is atomic and the command can be re-run after a crash at any point. It refuses while
the database holds competitions (they are bound to the old identity). The old wallet's funds
stay spendable by its descriptors: ``coordinator wallet sweep-legacy`` sends them to the new
wallet.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Protocol

import click

from coordinator.app import composition
from coordinator.app.composition import Store
from coordinator.config import Settings
from coordinator.domain.key_layout import (
    SWEEP_COMMAND,
    KeyLayout,
    LegacyKeyLayoutError,
    key_layout,
)
from coordinator.domain.keys import CoordinatorKeys
from coordinator_core.errors import ConfigError
from coordinator_core.keyfile import load_or_create_secret

_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def load_keys(settings: Settings) -> CoordinatorKeys:
    """The coordinator's keys from its seed file (created if missing)."""
    return CoordinatorKeys(load_or_create_secret(settings.coordinator.private_key_file))


def legacy_wallet_store(settings: Settings) -> Path:
    """Where ``keys migrate`` puts the single-key wallet store."""
    store = settings.bitcoin.storage_file
    return store.with_name(f"{store.stem}.legacy{store.suffix}")


def _store_files(store: Path) -> list[Path]:
    return [store.with_name(store.name + side) for side in _SIDE_FILES]


async def layout_of(settings: Settings, keys: CoordinatorKeys, db: Store) -> KeyLayout:
    recorded = await composition.recorded_identity(db)
    return key_layout(recorded, keys, settings.bitcoin.storage_file.exists())


async def ensure_key_layout(settings: Settings, keys: CoordinatorKeys, db: Store) -> None:
    """Record the identity of a fresh folder; refuse a single-key one (before any wallet use)."""
    layout = await layout_of(settings, keys, db)
    if layout is KeyLayout.LEGACY:
        raise LegacyKeyLayoutError
    if layout is KeyLayout.FRESH:
        await composition.record_identity(settings, db, keys.identity_pubkey_hex)


async def checked_keys(settings: Settings) -> CoordinatorKeys:
    """Load the keys and check the data folder's layout, for commands that run without the
    server (they open the competitions database only for this)."""
    keys = load_keys(settings)
    databases = await composition.open_databases(settings)
    try:
        await ensure_key_layout(settings, keys, databases["competitions"])
    finally:
        await asyncio.to_thread(composition.close_databases, databases.values())
    return keys


async def migrate_key_layout(settings: Settings) -> list[str]:
    """Move a single-key data folder to per-role keys; returns what was done, step by step."""
    keys = load_keys(settings)
    databases = await composition.open_databases(settings)
    done: list[str] = []
    try:
        db = databases["competitions"]
        layout = await layout_of(settings, keys, db)
        # A folder without an identity row whose store was already moved (a crash between
        # the two steps) looks fresh: it still needs its identity recorded, which is the same.
        if layout is KeyLayout.CURRENT or (
            layout is KeyLayout.FRESH and not legacy_wallet_store(settings).exists()
        ):
            return ["nothing to migrate: the data folder already uses per-role keys"]
        if await composition.competition_count(db):
            raise ConfigError(
                "the database holds competitions bound to the single-key identity; "
                "they must be settled on a coordinator of the earlier version first"
            )
        legacy = legacy_wallet_store(settings)
        store = settings.bitcoin.storage_file
        if store.exists():
            if legacy.exists():
                raise ConfigError(f"{legacy} already exists; move it away first")
            # The main file last: until it moves, a re-run sees the store where it was.
            for source, target in reversed(
                list(zip(_store_files(store), _store_files(legacy), strict=True))
            ):
                if source.exists():
                    os.replace(source, target)
            _sync_directory(store.parent)
            done.append(f"moved the wallet store {store.name} to {legacy.name}")
        await composition.record_identity(
            settings, db, keys.identity_pubkey_hex, replacing=keys.legacy_pubkey_hex
        )
        done.append(f"identity is now {keys.identity_pubkey_hex}")
        done.append(f"run `{SWEEP_COMMAND}` to move the old wallet's funds to the new wallet")
    finally:
        await asyncio.to_thread(composition.close_databases, databases.values())
    return done


def _sync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@click.group()
def keys() -> None:
    """The coordinator's keys (see the README's key table)."""


class HasSettings(Protocol):
    """The CLI context object: settings loaded on first use."""

    @property
    def settings(self) -> Settings: ...


@keys.command("migrate")
@click.pass_obj
def migrate(obj: HasSettings) -> None:
    """Move a data folder from the single-key layout to per-role keys (server stopped)."""
    for line in asyncio.run(migrate_key_layout(obj.settings)):
        click.echo(line)


@keys.command("show")
@click.pass_obj
def show(obj: HasSettings) -> None:
    """Print the public keys: identity (nostr) and, for a single-key folder, the old one."""
    keys_ = load_keys(obj.settings)
    click.echo(f"identity {keys_.identity_pubkey_hex}")
    click.echo(f"legacy   {keys_.legacy_pubkey_hex}")
