"""The ``coordinator`` command line: serve, dev, db, wallet, admin, player, keys, dlc, version."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import NoReturn

import click

from coordinator import __version__
from coordinator.app.admin_cli import admin as admin_group
from coordinator.app.backup_cli import backup as backup_group
from coordinator.app.keys import keys as keys_group
from coordinator.app.wallet_cli import wallet as wallet_group
from coordinator.config import Settings, load_settings
from coordinator.player.cli import player as player_group
from coordinator.synth.cli import synth as synth_group
from coordinator_core.errors import ConfigError, CoordinatorError

log = logging.getLogger("coordinator")


def setup_logging(level: str) -> None:
    """Log to stderr as ``[time LEVEL] logger: message``."""
    logging.basicConfig(
        level=level.upper(),
        format="[%(asctime)s %(levelname)s] %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    for noisy in ("httpx", "yoyo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error and exit."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class Context:
    """Lazily loaded settings shared by the subcommands."""

    def __init__(self, config_path: Path | None, level: str | None) -> None:
        self.config_path = config_path
        self.level = level
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                fail(exc.message)
            setup_logging(self.level or self._settings.log_level)
        return self._settings


@click.group()
@click.option(
    "-c", "--config", "config_path", type=click.Path(path_type=Path), default=None,
    help="TOML config file (default: $COORDINATOR_CONFIG or config/local.toml).",
)  # fmt: skip
@click.option(
    "-l", "--level", type=click.Choice(["debug", "info", "warning", "error"]), default=None,
    help="Log level (overrides the config file).",
)  # fmt: skip
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, level: str | None) -> None:
    """Forecast Coordinator: weather competitions settled with ticketed DLCs."""
    ctx.obj = Context(config_path, level)


@cli.command()
def version() -> None:
    """Print the version."""
    click.echo(f"forecast-coordinator {__version__}")


@cli.command()
@click.pass_obj
def serve(obj: Context) -> None:
    """Run the public and admin HTTP listeners and the background tasks."""
    import asyncio

    from coordinator.app.listeners import serve_forever

    sys.exit(asyncio.run(serve_forever(obj.settings)))


@cli.command()
@click.pass_obj
def dev(obj: Context) -> None:
    """Run the devnet stand-ins and the coordinator; Ctrl-C stops everything."""
    from coordinator.app.devrunner import run_dev

    try:
        code = run_dev(obj.settings, obj.config_path)
    except ConfigError as exc:
        fail(exc.message)
    sys.exit(code)


@cli.group()
def db() -> None:
    """Database migrations."""


def _db_names(name: str) -> list[str]:
    from coordinator.app.composition import DATABASES

    return list(DATABASES) if name == "all" else [name]


_DB_CHOICE = click.Choice(["all", "competitions", "users"])


@db.command()
@click.option("--db", "name", type=_DB_CHOICE, default="all", show_default=True)
@click.pass_obj
def migrate(obj: Context, name: str) -> None:
    """Apply pending migrations."""
    from coordinator.app import composition

    for db_name in _db_names(name):
        applied = composition.migrate(obj.settings, db_name)
        click.echo(
            f"{db_name}: applied {', '.join(applied) if applied else 'nothing (up to date)'}"
        )


@db.command()
@click.option("--db", "name", type=click.Choice(["competitions", "users"]), required=True)
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True)
@click.pass_obj
def rollback(obj: Context, name: str, count: int) -> None:
    """Roll back the most recent migrations of one database."""
    from coordinator.app import composition

    undone = composition.rollback(obj.settings, name, count)
    click.echo(f"{name}: rolled back {', '.join(undone) if undone else 'nothing'}")


@db.command()
@click.option("--db", "name", type=_DB_CHOICE, default="all", show_default=True)
@click.pass_obj
def status(obj: Context, name: str) -> None:
    """List migrations and whether each is applied."""
    from coordinator.app import composition

    for db_name in _db_names(name):
        for migration_id, applied in composition.migration_status(obj.settings, db_name):
            click.echo(f"{db_name}\t{migration_id}\t{'applied' if applied else 'pending'}")


cli.add_command(wallet_group)
cli.add_command(admin_group)
cli.add_command(player_group)
cli.add_command(keys_group)
cli.add_command(backup_group)
cli.add_command(synth_group)


@cli.group()
def dlc() -> None:
    """Ticketed DLC contracts (no configuration needed)."""


@dlc.command("build")
@click.option(
    "--params", "params_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
    help="dlctix ContractParameters JSON file.",
)  # fmt: skip
@click.option("--funding-outpoint", required=True, help="Funding outpoint as TXID:VOUT.")
@click.option(
    "--layout", type=click.Choice(["legacy", "outcome_bound"]), default=None,
    help="Split-leaf layout (default: the one the parameters select).",
)  # fmt: skip
@click.option(
    "--anchor", type=click.IntRange(min=0), default=None, metavar="SATS",
    help="Pay-to-anchor output value on every settlement transaction (0: none; default: the "
    "parameters' own).",
)  # fmt: skip
def dlc_build(
    params_path: Path, funding_outpoint: str, layout: str | None, anchor: int | None
) -> None:
    """Print every transaction, sighash and pre-signed fee of a contract as JSON."""
    import json

    from coordinator.app.dlc_cli import build_report

    report = build_report(params_path, funding_outpoint, layout, anchor)
    click.echo(json.dumps(report, indent=2))


def main() -> None:
    """Console entry point."""
    try:
        cli(standalone_mode=True)
    except CoordinatorError as exc:
        fail(exc.message, code=1)
