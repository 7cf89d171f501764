"""``coordinator backup``: restore, status, the generated configuration, the replicator.

``restore`` runs with the server stopped (it holds the data folder's lock); the next start runs
the lifecycle's reconciliation before any payout or broadcast, so whatever the backup missed
is taken from the Lightning node and the chain, never done twice.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

import click

from coordinator.app import composition
from coordinator.app.backup import data_folder_lock, restore_databases
from coordinator.config import Settings
from coordinator.domain.ports.backup import BackupError, ReplicaStatus

_DB_NAMES = ("competitions", "users", "wallet")


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj.settings
    if not settings.backup.enabled:
        raise click.ClickException("backups are not enabled ([backup] enabled = false)")
    return settings


def _timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not an RFC 3339 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise click.BadParameter("give the time zone (e.g. 2026-01-02T03:04:05Z)")
    return parsed.astimezone(UTC)


@click.group()
def backup() -> None:
    """Continuous backups (Litestream to S3-compatible storage)."""


@backup.command()
@click.option(
    "--timestamp", default=None, metavar="RFC3339",
    help="Restore the state as of this instant (default: the latest replicated).",
)  # fmt: skip
@click.option(
    "--db", "names", type=click.Choice(_DB_NAMES), multiple=True,
    help="Database to restore (repeatable; default: all).",
)  # fmt: skip
@click.option(
    "--if-missing", is_flag=True,
    help="Only databases that do not exist (an init container's restore); no replica is fine.",
)  # fmt: skip
@click.pass_context
def restore(
    ctx: click.Context, timestamp: str | None, names: tuple[str, ...], if_missing: bool
) -> None:
    """Restore databases from their replicas (server stopped). Existing files are kept aside."""
    settings = _settings(ctx)
    at = _timestamp(timestamp)
    replicas = composition.backup_replicas(settings)
    try:
        with data_folder_lock(settings):
            done = restore_databases(
                replicas, names or _DB_NAMES, timestamp=at, only_missing=if_missing
            )
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    for item in done:
        aside = f" (previous file kept as {item.set_aside})" if item.set_aside else ""
        click.echo(f"{item.name}: restored to {item.path}{aside}")
    restored = {item.name for item in done}
    for name in names or _DB_NAMES:
        if name not in restored:
            reason = (
                "exists, left alone"
                if if_missing and replicas.databases[name].exists()
                else "no replica"
            )
            click.echo(f"{name}: {reason}")
    if done:
        click.echo("the next start reconciles payouts and transactions before resuming them")


def _status_json(status: ReplicaStatus, now: datetime) -> dict[str, Any]:
    def stamp(value: datetime | None) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "database": status.name,
        "path": str(status.path),
        "exists": status.exists,
        "local_txid": status.local_txid,
        "replica_txid": status.replica_txid,
        "restorable_from": stamp(status.restorable_from),
        "newest": stamp(status.newest_at),
        "lag_secs": round(status.lag_secs(now), 3),
        "levels": [
            {
                "level": lvl.level,
                "files": lvl.files,
                "min_txid": lvl.min_txid,
                "max_txid": lvl.max_txid,
                "oldest": stamp(lvl.oldest_at),
                "newest": stamp(lvl.newest_at),
            }
            for lvl in status.levels
        ],
    }


@backup.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Each database's replica: levels (snapshots and increments), positions and lag."""
    settings = _settings(ctx)
    replicas = composition.backup_replicas(settings)
    now = datetime.now(UTC)
    try:
        report = [_status_json(replicas.status(name), now) for name in replicas.databases]
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for item in report:
        click.echo(
            f"{item['database']}: local txid {item['local_txid']}, replica txid "
            f"{item['replica_txid']}, lag {item['lag_secs']:.1f}s, restorable from "
            f"{item['restorable_from'] or '-'} to {item['newest'] or '-'}"
        )
        for lvl in item["levels"]:
            click.echo(
                f"  level {lvl['level']}: {lvl['files']} files, txid {lvl['min_txid']}-"
                f"{lvl['max_txid']}, {lvl['oldest']} .. {lvl['newest']}"
            )


@backup.command("config")
@click.pass_context
def show_config(ctx: click.Context) -> None:
    """Print the Litestream configuration generated from [backup]."""
    click.echo(composition.backup_config_text(_settings(ctx)), nl=False)


@backup.command()
@click.pass_context
def replicate(ctx: click.Context) -> None:
    """Run the replicator in the foreground (a sidecar's command; [backup] supervise = false)."""
    settings = _settings(ctx)
    try:
        argv, env = composition.replicator_command(settings)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    sys.stdout.flush()
    os.execve(argv[0], argv, env)  # noqa: S606 - our own binary, arguments we build
