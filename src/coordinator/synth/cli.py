"""``coordinator synth``: one timed lifecycle run, or the monitor's server."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from coordinator.config import load_settings
from coordinator.synth.scenario import Devnet, FullLifecycle, SynthConfig
from coordinator.synth.store import SynthStore
from coordinator_core.errors import ConfigError


def _pins(values: tuple[str, ...]) -> dict[str, str]:
    pins = {}
    for value in values:
        name, sep, digest = value.partition("=")
        if not sep:
            raise click.BadParameter(f"expected PCRn=HEX, got {value!r}")
        pins[name] = digest
    return pins


@click.group()
@click.option(
    "--url",
    envvar="COORDINATOR_URL",
    default="http://127.0.0.1:9990",
    show_default=True,
    help="The coordinator's public API.",
)
@click.option(
    "--admin-url",
    envvar="COORDINATOR_ADMIN_URL",
    default="http://127.0.0.1:9991",
    show_default=True,
    help="The coordinator's admin listener.",
)
@click.option(
    "--admin-token-file",
    envvar="COORDINATOR_ADMIN_TOKEN_FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("creds/admin_token"),
    show_default=True,
)
@click.option(
    "--db-path",
    envvar="SYNTH_DB_PATH",
    type=click.Path(path_type=Path),
    default=Path("data/synth.db"),
    show_default=True,
    help="Runs and step times.",
)
@click.option("--devnet-chain-url", default="http://127.0.0.1:3002", show_default=True)
@click.option("--devnet-lightning-url", default="http://127.0.0.1:8180", show_default=True)
@click.option("--devnet-oracle-url", default="http://127.0.0.1:9800", show_default=True)
@click.option("--devnet-token", envvar="SYNTH_DEVNET_TOKEN", default="devnet-token")
@click.option("--players", type=click.IntRange(2, 25), default=2, show_default=True)
@click.option(
    "--pcr-pin",
    "pcr_pins",
    multiple=True,
    metavar="PCRn=HEX",
    help="Enclave measurement the players require (with --attestation-root).",
)
@click.option(
    "--attestation-root",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The signing gateway's attestation root (devnet).",
)
@click.option(
    "--from-config",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Take every option not given from this coordinator config (and its COORDINATOR__ "
    "overrides): listeners, admin token file, devnet services, enclave pins and root.",
)
@click.option("--state-timeout", type=float, default=300.0, show_default=True)
@click.pass_context
def synth(ctx: click.Context, /, **options: Any) -> None:
    """Synthetic monitor: a whole competition lifecycle against a deployment, timed."""  # fmt: skip
    given = {
        name for name in options if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
    }
    if options["from_config"] is not None:
        options.update({k: v for k, v in _from_config(options["from_config"]).items()
                        if k not in given})  # fmt: skip
    ctx.obj = options


def _from_config(path: Path) -> dict[str, Any]:
    """The options a coordinator's own configuration implies (where it runs, on the devnet)."""
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        raise click.ClickException(exc.message) from None

    def local(host: str) -> str:
        return "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - a comparison

    found: dict[str, Any] = {
        "url": f"http://{local(settings.api.host)}:{settings.api.port}",
        "admin_url": f"http://{local(settings.admin.host)}:{settings.admin.port}",
        "admin_token_file": settings.admin.token_file,
        "pcr_pins": tuple(f"{k}={v}" for k, v in settings.keymeld.pcr_pins.items()),
        "attestation_root": settings.keymeld.attestation_trust_root_file,
    }
    if settings.devnet is not None:
        devnet = settings.devnet
        found |= {
            "devnet_chain_url": f"http://{devnet.host}:{devnet.chain_port}",
            "devnet_lightning_url": f"http://{devnet.host}:{devnet.lightning_port}",
            "devnet_oracle_url": f"http://{devnet.host}:{devnet.oracle_port}",
            "devnet_token": devnet.token,
        }
    return found


def _config(options: dict[str, Any]) -> SynthConfig:
    token_file: Path = options["admin_token_file"]
    try:
        token = token_file.read_text().strip()
    except OSError as exc:
        raise click.ClickException(f"admin token file {token_file}: {exc.strerror}") from None
    pins, root = _pins(options["pcr_pins"]), options["attestation_root"]
    return SynthConfig(
        coordinator_url=options["url"],
        admin_url=options["admin_url"],
        admin_token=token,
        devnet=Devnet(
            options["devnet_chain_url"], options["devnet_lightning_url"],
            options["devnet_oracle_url"], options["devnet_token"],
        ),
        players=options["players"],
        pcr_pins=pins,
        attestation_root=root,
        state_timeout_secs=options["state_timeout"],
    )  # fmt: skip


@synth.command()
@click.option("--json", "as_json", is_flag=True, help="The result as one JSON document.")
@click.pass_obj
def run(options: dict[str, Any], as_json: bool) -> None:
    """Run the full lifecycle once; print each step's time; exit 1 if it fails."""
    config = _config(options)
    store = SynthStore(options["db_path"])
    try:
        result = asyncio.run(FullLifecycle(config, store).run())
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({
            "run": result.run_id, "passed": result.passed, "competition": result.competition_id,
            "error": result.error, "steps": [{"step": n, "seconds": round(s, 3)}
                                             for n, s in result.steps],
        }, indent=2))  # fmt: skip
    else:
        width = max((len(name) for name, _ in result.steps), default=4)
        for name, seconds in result.steps:
            click.echo(f"{name.ljust(width)}  {seconds:8.2f}s")
        total = sum(seconds for _, seconds in result.steps)
        click.echo(
            f"{'total'.ljust(width)}  {total:8.2f}s  {'passed' if result.passed else 'FAILED'}"
        )
        if result.error:
            click.echo(f"error: {result.error}", err=True)
    sys.exit(0 if result.passed else 1)


@synth.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9980, show_default=True)
@click.option(
    "--every",
    "every_secs",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds between the end of a run and the next (0: runs only on POST /api/run).",
)
@click.pass_obj
def serve(options: dict[str, Any], host: str, port: int, every_secs: float) -> None:
    """Serve the status page, the API (POST /api/run) and /metrics."""
    import uvicorn

    from coordinator.synth.monitor import create_monitor_app

    config = _config(options)
    store = SynthStore(options["db_path"])
    app = create_monitor_app(store, lambda: FullLifecycle(config, store).run(), every_secs)
    uvicorn.run(app, host=host, port=port, log_level="info")
