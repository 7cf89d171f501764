"""``coordinator wallet …``: the operator's view of the coordinator's on-chain wallet.

The commands open the same wallet database as the server. A running coordinator holds it
locked, so stop the server first (the command says so if it is running).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any, TypeVar

import click

from coordinator.app import composition
from coordinator.app.keys import HasSettings, checked_keys, legacy_wallet_store
from coordinator.config import Settings
from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.chain import ChainSource, fee_rate_for_target
from coordinator.domain.ports.wallet import Wallet

T = TypeVar("T")


@asynccontextmanager
async def _opened(settings: Settings) -> AsyncIterator[tuple[CoordinatorKeys, Wallet, ChainSource]]:
    """The checked keys, the wallet and its chain source, closed on exit."""
    keys = await checked_keys(settings)
    chain = composition.chain_source(settings)
    wallet = composition.wallet(settings, chain, keys.wallet_root_secret)
    try:
        yield keys, wallet, chain
    finally:
        await wallet.close()
        await chain.aclose()


def _run(obj: HasSettings, action: Callable[[Wallet, ChainSource], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _opened(obj.settings) as (_, wallet, chain):
            return await action(wallet, chain)

    return asyncio.run(main())


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


@click.group()
def wallet() -> None:
    """The coordinator's on-chain wallet (stop the server first)."""


@wallet.command()
@click.option("--full", is_flag=True, help="Scan every derived address, not only revealed ones.")
@click.pass_obj
def sync(obj: HasSettings, full: bool) -> None:
    """Sync the wallet with the chain and print the synced height."""

    async def action(w: Wallet, _: ChainSource) -> int:
        return await (w.full_scan() if full else w.sync())

    click.echo(f"synced to height {_run(obj, action)}")


@wallet.command()
@click.option("--no-sync", is_flag=True, help="Show the stored balance without syncing.")
@click.pass_obj
def balance(obj: HasSettings, no_sync: bool) -> None:
    """Balance in sats: confirmed, pending, immature and total."""

    async def action(w: Wallet, _: ChainSource) -> dict[str, int]:
        if not no_sync:
            await w.sync()
        result = await w.balance()
        return {**asdict(result), "total": result.total}

    result = _run(obj, action)
    for name in ("confirmed", "trusted_pending", "untrusted_pending", "immature", "total"):
        click.echo(f"{name:18} {result[name]:>16,} sats")


@wallet.command()
@click.pass_obj
def address(obj: HasSettings) -> None:
    """Reveal the next receive address."""

    async def action(w: Wallet, _: ChainSource) -> str:
        return await w.new_address()

    click.echo(_run(obj, action))


@wallet.command()
@click.option("--all", "include_spent", is_flag=True, help="Include spent outputs.")
@click.option("--no-sync", is_flag=True, help="List the stored outputs without syncing.")
@click.pass_obj
def outputs(obj: HasSettings, include_spent: bool, no_sync: bool) -> None:
    """The wallet's outputs as JSON (unspent only unless --all)."""

    async def action(w: Wallet, _: ChainSource) -> list[dict[str, Any]]:
        if not no_sync:
            await w.sync()
        return [asdict(o) for o in await w.outputs(include_spent=include_spent)]

    _echo_json(_run(obj, action))


@wallet.command()
@click.pass_obj
def fees(obj: HasSettings) -> None:
    """Fee estimates (target blocks → sat/vB) and the rates the wallet would use."""

    async def action(_: Wallet, chain: ChainSource) -> dict[str, Any]:
        estimates = await chain.fee_estimates()
        return {
            "estimates": {str(k): v for k, v in sorted(estimates.items())},
            "used": {str(t): fee_rate_for_target(estimates, t) for t in (1, 6, 144)},
        }

    _echo_json(_run(obj, action))


@wallet.command()
@click.option("--to", "to_address", required=True, help="Destination address.")
@click.option("--amount", type=click.IntRange(min=1), help="Sats to send.")
@click.option("--all", "send_all", is_flag=True, help="Send everything (drain the wallet).")
@click.option("--fee-rate", type=click.IntRange(min=1), help="sat/vB (default: 1-block estimate).")
@click.option("--max-fee", type=click.IntRange(min=0), help="Refuse if the fee exceeds SATS.")
@click.option("--from", "from_address", help="Spend only confirmed outputs at this address.")
@click.option("--utxo", "utxos", multiple=True, help="Spend only these TXID:VOUT outputs.")
@click.pass_obj
def send(
    obj: HasSettings,
    to_address: str,
    amount: int | None,
    send_all: bool,
    fee_rate: int | None,
    max_fee: int | None,
    from_address: str | None,
    utxos: tuple[str, ...],
) -> None:
    """Send sats (or everything with --all) and broadcast; prints the txid and fee."""
    if (amount is None) == (not send_all):
        raise click.UsageError("give exactly one of --amount and --all")

    async def action(w: Wallet, _: ChainSource) -> dict[str, Any]:
        await w.sync()
        selected: list[str] | None = list(utxos) if utxos else None
        if from_address is not None:
            selected = (selected or []) + await w.confirmed_outpoints_of(from_address)
            if not selected:
                raise click.ClickException(f"no confirmed outputs at {from_address}")
        sent = await w.send(
            to_address, amount, fee_rate=fee_rate, max_fee_sats=max_fee, from_outpoints=selected
        )
        return {"txid": sent.txid, "fee": sent.fee}

    result = _run(obj, action)
    click.echo(f"txid {result['txid']}\nfee  {result['fee']} sats")


@wallet.command("sweep-legacy")
@click.option("--fee-rate", type=click.IntRange(min=1), help="sat/vB (default: 6-block estimate).")
@click.option("--max-fee", type=click.IntRange(min=0), help="Refuse if the fee exceeds SATS.")
@click.pass_obj
def sweep_legacy(obj: HasSettings, fee_rate: int | None, max_fee: int | None) -> None:
    """Send everything the single-key wallet holds to the wallet (after `keys migrate`)."""
    settings = obj.settings
    legacy_store = legacy_wallet_store(settings)

    async def main() -> dict[str, Any]:
        async with _opened(settings) as (keys, new, chain):
            return await _sweep(keys, new, chain)

    async def _sweep(keys: CoordinatorKeys, new: Wallet, chain: ChainSource) -> dict[str, Any]:
        # The old wallet: the seed itself as BIP-32 root, on its own (set-aside) store.
        old = composition.wallet(settings, chain, keys.seed, storage_file=legacy_store)
        try:
            await old.full_scan()
            balance = await old.balance()
            if balance.spendable == 0:
                return {"swept": 0, "pending": balance.total}
            rate = fee_rate or fee_rate_for_target(await chain.fee_estimates(), 6)
            sent = await old.send(
                await new.new_address(), None, fee_rate=rate, max_fee_sats=max_fee
            )
            return {
                "swept": balance.spendable - sent.fee,
                "fee": sent.fee,
                "txid": sent.txid,
                "pending": balance.total - balance.spendable,
            }
        finally:
            await old.close()

    result = asyncio.run(main())
    if result["swept"] == 0:
        click.echo("nothing to sweep: the single-key wallet has no spendable funds")
    else:
        click.echo(f"txid  {result['txid']}\nswept {result['swept']} sats (fee {result['fee']})")
    if result["pending"]:
        click.echo(f"{result['pending']} sats are not spendable yet; run this again later")
