"""``coordinator admin``: the operator's command line over the admin listener.

Every command is an HTTP call to the admin listener (``--url``, ``$COORDINATOR_ADMIN_URL``, or
``[admin] host:port`` of the settings) with the bearer token from its file (``--token-file``,
``$COORDINATOR_ADMIN_TOKEN_FILE``, or ``[admin] token_file``). ``--json`` prints the listener's
JSON answers unchanged. Nothing here touches the databases or the wallet directly, so it runs
next to a live coordinator.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import click
import httpx

from coordinator.config import Settings, load_settings
from coordinator_core.errors import ConfigError
from coordinator_core.ids import uuid7
from coordinator_core.private_file import PrivateFileError, read_private

RELATIVE: Final = re.compile(r"^\+(\d+)([smhd])$")
UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
MAX_TOKEN_BYTES: Final = 4096


class AdminApi:
    """The admin listener, as the operator's bearer-token client."""

    def __init__(self, url: str, token: str, timeout_secs: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_secs,
            trust_env=False,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        params = {k: str(v) for k, v in query.items() if v is not None}
        try:
            response = self._http.request(method, path, json=body, params=params or None)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"admin listener {self.url}: {exc}") from None
        try:
            answer = response.json() if response.content else None
        except ValueError:
            answer = response.text[:300]
        if response.status_code >= 400:
            error = answer.get("error") if isinstance(answer, dict) else answer
            if isinstance(error, dict):
                error = error.get("detail") or error.get("type")
            raise click.ClickException(f"HTTP {response.status_code}: {error}")
        return answer


class AdminContext:
    def __init__(self, config: Path | None, url: str | None, token_file: Path | None, raw: bool):
        self.config = config
        self.url = url
        self.token_file = token_file
        self.raw = raw
        self._api: AdminApi | None = None

    def settings(self) -> Settings:
        try:
            return load_settings(self.config)
        except ConfigError as exc:
            raise click.ClickException(exc.message) from None

    @property
    def api(self) -> AdminApi:
        if self._api is None:
            url, token_file = self.url, self.token_file
            if url is None or token_file is None:
                admin = self.settings().admin
                url = url or f"http://{admin.host}:{admin.port}"
                token_file = token_file or admin.token_file
            self._api = AdminApi(url, read_token(token_file))
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    def show(self, answer: Any, human: Callable[[Any], None]) -> None:
        if self.raw:
            click.echo(json.dumps(answer, indent=2))
        else:
            human(answer)


def read_token(path: Path) -> str:
    """The admin bearer token from its owner-only file."""
    try:
        data = read_private(path, MAX_TOKEN_BYTES)
    except (OSError, PrivateFileError) as exc:
        raise click.ClickException(f"cannot read the admin token file {path}: {exc}") from None
    token = data.decode(errors="replace").strip()
    if not token:
        raise click.ClickException(f"the admin token file {path} is empty")
    return token


def parse_time(value: str, now: dt.datetime, base: dt.datetime | None = None) -> dt.datetime:
    """RFC 3339, or ``+30m`` / ``+6h`` / ``+2d`` after ``base`` (default: now)."""
    match = RELATIVE.fullmatch(value.strip())
    if match:
        amount, unit = int(match.group(1)), UNITS[match.group(2)]
        return (base or now) + dt.timedelta(**{unit: amount})
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected RFC 3339 or +N[smhd], got {value!r}") from None
    if parsed.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no time zone")
    return parsed


@click.group()
@click.option("--url", envvar="COORDINATOR_ADMIN_URL", default=None,
              help="Admin listener URL (default: [admin] host and port).")  # fmt: skip
@click.option("--token-file", envvar="COORDINATOR_ADMIN_TOKEN_FILE", default=None,
              type=click.Path(path_type=Path, dir_okay=False),
              help="Bearer token file (default: [admin] token_file).")  # fmt: skip
@click.option("--json", "raw", is_flag=True, help="Print the JSON answers.")
@click.pass_context
def admin(ctx: click.Context, url: str | None, token_file: Path | None, raw: bool) -> None:
    """Operate a running coordinator through its admin listener."""
    parent = ctx.find_root().obj
    config = getattr(parent, "config_path", None)
    ctx.obj = AdminContext(config, url, token_file, raw)
    ctx.call_on_close(ctx.obj.close)


# -- competitions -------------------------------------------------------------------------------


@admin.group()
def competitions() -> None:
    """Create, list, show and cancel competitions."""


def _summary(c: dict[str, Any]) -> str:
    terms = c["event_submission"]
    return (
        f"{c['id']}  {c['state']:<22} {c['total_paid_entries']}/{terms['total_allowed_entries']} "
        f"paid  {terms['number_of_places_win']} places  fee {terms['entry_fee']} sats  "
        f"start {terms['start_observation_date']}"
    )


@competitions.command("list")
@click.option("--status", default=None, help="open, live, awaiting, active, finished, failed, "
              "cancelled, all, or a state name.")  # fmt: skip
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--cursor", default=None, help="Continue after this competition id.")
@click.pass_obj
def list_competitions(
    obj: AdminContext, status: str | None, limit: int, cursor: str | None
) -> None:
    answer = obj.api.call("GET", "/api/v1/admin/competitions", status=status, limit=limit,
                          cursor=cursor)  # fmt: skip

    def human(items: list[dict[str, Any]]) -> None:
        for item in items:
            click.echo(_summary(item))
        if not items:
            click.echo("no competitions")

    obj.show(answer, human)


@competitions.command("show")
@click.argument("competition_id", type=click.UUID)
@click.pass_obj
def show_competition(obj: AdminContext, competition_id: uuid.UUID) -> None:
    answer = obj.api.call("GET", f"/api/v1/admin/competitions/{competition_id}")

    def human(c: dict[str, Any]) -> None:
        click.echo(_summary(c))
        for step in c["history"]:
            click.echo(f"  {step['at']}  {step['milestone']}")
        for error in c["errors"] or []:
            click.echo(f"  error {error['at']} {error['action']} ({error['kind']}): "
                       f"{error['message']}")  # fmt: skip
        for tx in c["transactions"]:
            where = f" p{tx['player_index']}" if tx["player_index"] is not None else ""
            height = tx["confirmed_height"] or "unconfirmed"
            click.echo(f"  tx {tx['kind']}{where} {tx['txid']} ({height})")
        for payout in c["payouts"]:
            click.echo(f"  payout {payout['payout_id']} {payout['amount_sats']} sats "
                       f"{payout['status']}")  # fmt: skip
        for owed in c["owed_winners"]:
            click.echo(f"  owed {owed['entry_id']} {owed['amount_sats']} sats, sweepable at "
                       f"{owed['sweepable_at_height']}")  # fmt: skip

    obj.show(answer, human)


@competitions.command("create")
@click.option("--stations", required=True, help="Comma-separated station ids, e.g. KORD,KLAX.")
@click.option("--entries", "total", type=click.IntRange(2, 25), required=True)
@click.option("--places", type=click.IntRange(1, 5), default=1, show_default=True)
@click.option("--values", type=click.IntRange(min=1), default=None,
              help="Picks per entry (default: 3 per station).")  # fmt: skip
@click.option("--entry-fee", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--coordinator-fee-percentage", type=click.IntRange(0, 100), default=10,
              show_default=True)  # fmt: skip
@click.option("--pool", type=click.IntRange(min=1), default=None,
              help="Funding value (default: entry fee × entries).")  # fmt: skip
@click.option("--start", default="+30m", show_default=True, help="Entries close (RFC 3339/+N).")
@click.option("--end", default="+1h", show_default=True, help="After --start (RFC 3339/+N).")
@click.option("--signing", default="+10m", show_default=True, help="After --end (RFC 3339/+N).")
@click.option("--delta", type=click.IntRange(1, 32767), default=None,
              help="relative_locktime_block_delta (default: the coordinator's).")  # fmt: skip
@click.option("--id", "competition_id", type=click.UUID, default=None, help="UUIDv7 to use.")
@click.option("--dry-run", is_flag=True, help="Print the request instead of sending it.")
@click.pass_obj
def create_competition(
    obj: AdminContext,
    stations: str,
    total: int,
    places: int,
    values: int | None,
    entry_fee: int,
    coordinator_fee_percentage: int,
    pool: int | None,
    start: str,
    end: str,
    signing: str,
    delta: int | None,
    competition_id: uuid.UUID | None,
    dry_run: bool,
) -> None:
    """Create a competition (refused, naming the limit, if it could not be carried through)."""
    now = dt.datetime.now(dt.UTC)
    locations = [s.strip().upper() for s in stations.split(",") if s.strip()]
    starts = parse_time(start, now)
    ends = parse_time(end, now, starts)
    signs = parse_time(signing, now, ends)
    body: dict[str, Any] = {
        "id": str(competition_id or uuid7()),
        "signing_date": signs.isoformat(),
        "start_observation_date": starts.isoformat(),
        "end_observation_date": ends.isoformat(),
        "locations": locations,
        "number_of_values_per_entry": values or 3 * len(locations),
        "number_of_places_win": places,
        "total_allowed_entries": total,
        "entry_fee": entry_fee,
        "coordinator_fee_percentage": coordinator_fee_percentage,
        "total_competition_pool": pool or entry_fee * total,
    }
    if delta is not None:
        body["relative_locktime_block_delta"] = delta
    if dry_run:
        click.echo(json.dumps(body, indent=2))
        return
    answer = obj.api.call("POST", "/api/v1/competitions", body)
    obj.show(answer, lambda c: click.echo(_summary(c)))


@competitions.command("cancel")
@click.argument("competition_id", type=click.UUID)
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.pass_obj
def cancel_competition(obj: AdminContext, competition_id: uuid.UUID, yes: bool) -> None:
    """Cancel before funding: every held entry fee is returned at once."""
    if not yes:
        click.confirm(f"Cancel {competition_id} and return its held entry fees?", abort=True)
    answer = obj.api.call("DELETE", f"/api/v1/admin/competitions/{competition_id}")
    obj.show(answer, lambda c: click.echo(_summary(c)))


# -- owed winners and payout holds --------------------------------------------------------------


@admin.group("owed-winners")
def owed_winners() -> None:
    """Winners whose Lightning payout window closed unpaid."""


def _owed_line(owed: dict[str, Any]) -> str:
    status = "resolved" if owed["resolved"] else "owed"
    approved = " (sweep approved)" if owed["sweep_approved_at"] else ""
    return (
        f"{owed['entry_id']}  competition {owed['competition_id']}  {owed['amount_sats']} sats  "
        f"{status}{approved}  sweepable at height {owed['sweepable_at_height']}"
    )


@owed_winners.command("list")
@click.option("--all", "include_resolved", is_flag=True, help="Resolved ones too.")
@click.pass_obj
def list_owed(obj: AdminContext, include_resolved: bool) -> None:
    answer = obj.api.call(
        "GET", "/api/v1/admin/owed-winners", unresolved=str(not include_resolved).lower()
    )

    def human(items: list[dict[str, Any]]) -> None:
        for item in items:
            click.echo(_owed_line(item))
        if not items:
            click.echo("no owed winners")

    obj.show(answer, human)


@owed_winners.command("approve-sweep")
@click.argument("entry_id", type=click.UUID)
@click.pass_obj
def approve_sweep(obj: AdminContext, entry_id: uuid.UUID) -> None:
    """Let the coordinator sweep this winner's output once its timelock passed."""
    answer = obj.api.call("POST", f"/api/v1/admin/owed-winners/{entry_id}/approve-sweep")
    obj.show(answer, lambda o: click.echo(_owed_line(o)))


@admin.group("payout-holds")
def payout_holds() -> None:
    """Entries whose payouts wait for an operator (a node payment no record explains)."""


@payout_holds.command("list")
@click.pass_obj
def list_holds(obj: AdminContext) -> None:
    answer = obj.api.call("GET", "/api/v1/admin/payout-holds")

    def human(items: list[dict[str, Any]]) -> None:
        for item in items:
            click.echo(f"{item['entry_id']}  {item['amount_sats']} sats  {item['reason']}")
        if not items:
            click.echo("no payout holds")

    obj.show(answer, human)


@payout_holds.command("release")
@click.argument("entry_id", type=click.UUID)
@click.pass_obj
def release_hold(obj: AdminContext, entry_id: uuid.UUID) -> None:
    answer = obj.api.call("POST", f"/api/v1/admin/payout-holds/{entry_id}/release")
    obj.show(answer, lambda a: click.echo(f"released {a['released']}"))


# -- wallet ---------------------------------------------------------------------------------------


@admin.group("wallet")
def wallet() -> None:
    """The coordinator's on-chain wallet, through the running server."""


@wallet.command("balance")
@click.pass_obj
def wallet_balance(obj: AdminContext) -> None:
    answer = obj.api.call("GET", "/api/v1/wallet/balance")
    obj.show(answer, lambda b: click.echo("\n".join(f"{k:<18}{v} sats" for k, v in b.items())))


@wallet.command("address")
@click.pass_obj
def wallet_address(obj: AdminContext) -> None:
    answer = obj.api.call("GET", "/api/v1/wallet/address")
    obj.show(answer, lambda a: click.echo(a["address"]))


@wallet.command("outputs")
@click.option("--all", "include_spent", is_flag=True)
@click.pass_obj
def wallet_outputs(obj: AdminContext, include_spent: bool) -> None:
    answer = obj.api.call("GET", "/api/v1/wallet/outputs", include_spent=str(include_spent).lower())

    def human(a: dict[str, Any]) -> None:
        for o in a["outputs"]:
            height = o["confirmation_height"] or "unconfirmed"
            click.echo(f"{o['outpoint']}  {o['value']} sats  {o['keychain']}  {height}")

    obj.show(answer, human)


@wallet.command("fees")
@click.pass_obj
def wallet_fees(obj: AdminContext) -> None:
    answer = obj.api.call("GET", "/api/v1/wallet/estimated_fees")
    obj.show(
        answer,
        lambda a: click.echo(
            "\n".join(f"{t:>4} blocks  {r} sat/vB" for t, r in a["fee_estimates"].items())
        ),
    )


@wallet.command("send")
@click.option("--to", "address_to", required=True)
@click.option("--amount", type=click.IntRange(min=1), default=None, help="Sats (default: all).")
@click.option("--fee-rate", type=click.IntRange(min=1), default=None)
@click.option("--max-fee", type=click.IntRange(min=0), default=None)
@click.option("--from", "address_from", default=None, help="Spend only this address's outputs.")
@click.option("--yes", is_flag=True)
@click.pass_obj
def wallet_send(
    obj: AdminContext,
    address_to: str,
    amount: int | None,
    fee_rate: int | None,
    max_fee: int | None,
    address_from: str | None,
    yes: bool,
) -> None:
    what = f"{amount} sats" if amount else "everything"
    if not yes:
        click.confirm(f"Send {what} to {address_to}?", abort=True)
    body = {"address_to": address_to, "amount": amount, "fee_rate": fee_rate,
            "max_fee": max_fee, "address_from": address_from}  # fmt: skip
    answer = obj.api.call("POST", "/api/v1/wallet/send", {k: v for k, v in body.items() if v})
    obj.show(answer, lambda a: click.echo(f"txid {a['txid']}\nfee  {a['fee']} sats"))
