"""``coordinator player …``: the headless player on the command line.

Needs no coordinator configuration: a seed file (``--seed-file`` or ``$COORDINATOR_PLAYER_SEED``,
default ``./player/seed.json``), the coordinator's URL (``--url`` or ``$COORDINATOR_URL``) and,
to pay or to learn the ticket preimage, an LND REST node (``--lnd-url``, ``--lnd-macaroon``,
optional ``--lnd-tls-cert``). The player's tickets are kept in ``<seed>.state.json`` beside the
seed file (0600), verified contracts in ``<seed>.state.contracts/``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from coordinator.player.api import CoordinatorApi
from coordinator.player.claim import ClaimState
from coordinator.player.client import EntryRecord, Player, PlayerState, parse_picks
from coordinator.player.identity import create_identity, load_identity
from coordinator_core.entry_keys import ADDRESS_HRP
from coordinator_core.errors import CoordinatorError
from coordinator_core.keymeld.attestation import EnclaveTrust
from coordinator_core.nitro import attestation_trust
from ticketdlc.bitcoin.address import AddressError, address_to_script_pubkey

T = TypeVar("T")
DEFAULT_SEED = Path("player/seed.json")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except CoordinatorError as exc:
        raise click.ClickException(exc.message) from None


class PlayerContext:
    """Options shared by the player commands; clients are built on first use."""

    def __init__(
        self,
        seed_file: Path,
        url: str,
        lnd: dict[str, Any],
        pcr_pins: dict[str | int, str],
        attestation_root: Path | None,
    ) -> None:
        self.seed_file = seed_file
        self.url = url
        self.lnd = lnd
        self.pcr_pins = pcr_pins
        self.attestation_root = attestation_root

    def enclave_trust(self, network: str) -> EnclaveTrust | None:
        """What the signing gateway's enclaves are verified against (None: no pins given).

        A custom root (a devnet gateway's) is refused on mainnet, as the production profile
        refuses it."""
        if not self.pcr_pins:
            return None
        profile = "production" if network == "bitcoin" else "development"
        try:
            trust = attestation_trust(
                profile, pcr_pins=self.pcr_pins, trust_root_file=self.attestation_root
            )
        except CoordinatorError as exc:
            raise click.ClickException(exc.message) from None
        return EnclaveTrust(trust)

    @property
    def state_file(self) -> Path:
        return self.seed_file.with_name(self.seed_file.stem + ".state.json")

    def lightning(self, network: str) -> Any:
        if not self.lnd.get("url"):
            return None
        from coordinator.adapters.lightning import LndRestClient

        macaroon = Path(self.lnd["macaroon"]).read_bytes() if self.lnd.get("macaroon") else None
        cert = Path(self.lnd["tls_cert"]).read_bytes() if self.lnd.get("tls_cert") else None
        return LndRestClient(
            self.lnd["url"], network=network, macaroon=macaroon, tls_cert_pem=cert,  # type: ignore[arg-type]
            min_invoice_validity_secs=0.0,
        )  # fmt: skip

    async def with_player(self, action: Callable[[Player], Awaitable[T]]) -> T:
        identity = load_identity(self.seed_file)
        lightning = self.lightning(identity.network)
        async with CoordinatorApi(self.url, identity.nostr_secret) as api:
            trust = self.enclave_trust(identity.network)
            player = Player(identity, api, PlayerState.load(self.state_file), lightning, trust)
            try:
                return await action(player)
            finally:
                if lightning is not None:
                    await lightning.aclose()


def _esplora(url: str) -> Any:
    from coordinator.adapters.chain.esplora import EsploraClient

    return EsploraClient(url)


@click.group()
@click.option(
    "--seed-file", type=click.Path(path_type=Path, dir_okay=False),
    envvar="COORDINATOR_PLAYER_SEED", default=DEFAULT_SEED, show_default=True,
    help="The player's seed file (0600).",
)  # fmt: skip
@click.option(
    "--url", envvar="COORDINATOR_URL", default="http://127.0.0.1:9990", show_default=True,
    help="The coordinator's public URL.",
)  # fmt: skip
@click.option("--lnd-url", envvar="PLAYER_LND_URL", default=None, help="LND REST base URL.")
@click.option(
    "--lnd-macaroon", envvar="PLAYER_LND_MACAROON", default=None,
    type=click.Path(path_type=Path, dir_okay=False, exists=True), help="admin.macaroon file.",
)  # fmt: skip
@click.option(
    "--lnd-tls-cert", envvar="PLAYER_LND_TLS_CERT", default=None,
    type=click.Path(path_type=Path, dir_okay=False, exists=True), help="LND tls.cert (pinned).",
)  # fmt: skip
@click.option(
    "--pcr-pin", "pcr_pins", multiple=True, envvar="PLAYER_PCR_PINS",
    help="PCRn=HEX the signing gateway's enclaves must attest (repeatable).",
)  # fmt: skip
@click.option(
    "--attestation-root", envvar="PLAYER_ATTESTATION_ROOT", default=None,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="PEM root of the enclaves' attestation (default: AWS Nitro Root G1).",
)  # fmt: skip
@click.pass_context
def player(
    ctx: click.Context,
    seed_file: Path,
    url: str,
    lnd_url: str | None,
    lnd_macaroon: Path | None,
    lnd_tls_cert: Path | None,
    pcr_pins: tuple[str, ...],
    attestation_root: Path | None,
) -> None:
    """Play as a headless player: enter competitions, get paid, claim on chain."""
    lnd = {"url": lnd_url, "macaroon": lnd_macaroon, "tls_cert": lnd_tls_cert}
    pins: dict[str | int, str] = {}
    for pin in pcr_pins:
        name, sep, value = pin.partition("=")
        if not sep:
            raise click.BadParameter(f"expected PCRn=HEX, got {pin!r}", param_hint="--pcr-pin")
        pins[name.strip()] = value.strip()
    ctx.obj = PlayerContext(seed_file, url, lnd, pins, attestation_root)


@player.command()
@click.option(
    "--network", type=click.Choice(sorted(ADDRESS_HRP)), default="regtest", show_default=True
)
@click.pass_obj
def init(obj: PlayerContext, network: str) -> None:
    """Create a new seed file (refuses to overwrite one)."""
    try:
        identity = create_identity(obj.seed_file, network)  # type: ignore[arg-type]
    except CoordinatorError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"created {obj.seed_file} ({network}); your identity: {identity.npub}")


@player.command()
@click.pass_obj
def whoami(obj: PlayerContext) -> None:
    """Print the player's nostr identity."""
    try:
        identity = load_identity(obj.seed_file)
    except CoordinatorError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(json.dumps({"npub": identity.npub, "pubkey": identity.pubkey_hex,
                           "network": identity.network}))  # fmt: skip


@player.command()
@click.pass_obj
def competitions(obj: PlayerContext) -> None:
    """List the coordinator's competitions (JSON, one per line)."""

    async def action(p: Player) -> None:
        for item in await p.api.competitions():
            terms = item.get("event_submission") or {}
            click.echo(json.dumps({
                "id": item.get("id"), "state": item.get("state"),
                "entries": f"{item.get('total_entries')}/{terms.get('total_allowed_entries')}",
                "entry_fee": terms.get("entry_fee"), "locations": terms.get("locations"),
            }))  # fmt: skip

    _run(obj.with_player(action))


@player.command()
@click.argument("competition_id", type=click.UUID)
@click.option(
    "--pick", "picks", multiple=True, required=True,
    help="STATION:metric=Over|Par|Under[,metric=…] (repeat per station).",
)  # fmt: skip
@click.option("--print-invoice", is_flag=True, help="Print the invoice instead of paying it.")
@click.option("--wait-secs", type=float, default=600.0, show_default=True)
@click.pass_obj
def enter(
    obj: PlayerContext,
    competition_id: uuid.UUID,
    picks: tuple[str, ...],
    print_invoice: bool,
    wait_secs: float,
) -> None:
    """Reserve a ticket, pay it (or print the invoice), then submit the entry."""
    chosen = parse_picks(picks)

    async def action(p: Player) -> None:
        record = await p.reserve(competition_id)
        click.echo(f"ticket {record.ticket_id} for entry {record.entry_id}: "
                   f"{record.amount_sats} sats")  # fmt: skip
        await p.register(record)
        if print_invoice or p.lightning is None:
            click.echo(record.payment_request)
            click.echo("waiting for the payment …", err=True)
        else:
            click.echo(f"payment {await p.pay(record)}")
        status = await p.wait_for_ticket(record, timeout_secs=wait_secs)
        click.echo(f"ticket {status}")
        entry = await p.submit_entry(record, chosen)
        click.echo(json.dumps({"entry_id": entry.get("id", record.entry_id), "submitted": True}))

    _run(obj.with_player(action))


def _record(p: Player, entry_id: uuid.UUID) -> EntryRecord:
    return p.state.find(entry_id)


@player.command()
@click.pass_obj
def status(obj: PlayerContext) -> None:
    """The player's tickets and their status on the coordinator (JSON, one per line)."""

    async def action(p: Player) -> None:
        for record in p.state.entries.values():
            try:
                ticket = await p.api.ticket_status(record.competition_uuid, record.ticket_uuid)
            except CoordinatorError as exc:
                ticket = f"unknown ({exc.message})"
            line = asdict(record) | {"ticket_status": ticket}
            line.pop("ticket_preimage", None)
            line.pop("payment_request", None)
            click.echo(json.dumps(line))

    _run(obj.with_player(action))


@player.command()
@click.argument("entry_id", type=click.UUID)
@click.option(
    "--invoice", default=None,
    help="BOLT11 invoice for the exact amount owed (default: made by --lnd-url's node).",
)  # fmt: skip
@click.pass_obj
def payout(obj: PlayerContext, entry_id: uuid.UUID, invoice: str | None) -> None:
    """Ask for the Lightning payout of a winning entry (reveals its payout preimage and key)."""

    async def action(p: Player) -> None:
        record = _record(p, entry_id)
        if invoice is None:
            answer = await p.invoice_and_request_payout(record)
        else:
            answer = await p.request_payout(record, invoice)
        click.echo(json.dumps(answer))

    _run(obj.with_player(action))


@player.command()
@click.argument("entry_id", type=click.UUID)
@click.option("--oracle-url", default=None, help="Check against the oracle's own event.")
@click.option("--esplora-url", default=None, help="Check the funding transaction on chain.")
@click.pass_obj
def verify(
    obj: PlayerContext, entry_id: uuid.UUID, oracle_url: str | None, esplora_url: str | None
) -> None:
    """Check this entry's payout paths in the public contract, and keep the contract."""

    async def action(p: Player) -> bool:
        chain = _esplora(esplora_url) if esplora_url else None
        try:
            report = await p.verify_contract(_record(p, entry_id), oracle_url, chain)
        finally:
            if chain is not None:
                await chain.aclose()
        click.echo(report.render())
        return report.ok

    if not _run(obj.with_player(action)):
        sys.exit(1)


@player.command()
@click.argument("entry_id", type=click.UUID)
@click.option("--to", "address", required=True, help="Address the winnings go to.")
@click.option("--esplora-url", required=True, help="Esplora API to read and broadcast with.")
@click.option("--fee-rate", type=click.IntRange(min=1), default=2, show_default=True,
              help="sat/vB of the win transaction.")  # fmt: skip
@click.option("--oracle-url", default=None, help="Take the attestation from the oracle.")
@click.option("--ticket-preimage", default=None, help="Hex, if not learned from the LND node.")
@click.option("--wait", is_flag=True, help="Keep going (polling the chain) until done.")
@click.option("--poll-secs", type=float, default=10.0, show_default=True)
@click.pass_obj
def claim(
    obj: PlayerContext,
    entry_id: uuid.UUID,
    address: str,
    esplora_url: str,
    fee_rate: int,
    oracle_url: str | None,
    ticket_preimage: str | None,
    wait: bool,
    poll_secs: float,
) -> None:
    """Claim a winning entry on chain: outcome, split and win transactions, as they come due."""

    async def action(p: Player) -> bool:
        record = _record(p, entry_id)
        try:
            script = address_to_script_pubkey(address, ADDRESS_HRP[p.identity.network])
        except AddressError as exc:
            raise click.ClickException(f"--to: {exc}") from None
        if ticket_preimage is not None:
            p.set_ticket_preimage(record, bytes.fromhex(ticket_preimage))
        async with _esplora(esplora_url) as chain:
            last = None
            while True:
                attestation = None
                if oracle_url is not None:
                    from coordinator.player.public import oracle_facts

                    attestation = (await oracle_facts(oracle_url, record.competition_uuid)
                                   ).attestation  # fmt: skip
                progress = await p.claim(record, chain, script, fee_rate, attestation)
                line = json.dumps({
                    "state": progress.state.value, "detail": progress.detail,
                    "txid": progress.txid, "ready_at_height": progress.ready_at_height,
                })  # fmt: skip
                if line != last:  # one line per change, not per poll
                    click.echo(line)
                    last = line
                if progress.finished or not wait:
                    return progress.state is not ClaimState.TAKEN
                await asyncio.sleep(poll_secs)

    if not _run(obj.with_player(action)):
        sys.exit(1)
