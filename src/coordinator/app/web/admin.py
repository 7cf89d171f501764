"""The operator pages on the admin listener: competitions (create, detail, cancel) and wallet.

Every route needs an admin (``require_admin``: bearer token, admin npub or the session cookie
of ``POST /admin/login``, with ``X-CSRF-Token`` on writes). A page request without a valid
session gets the token login form instead; writes answer with a notification fragment.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from coordinator.app.auth.admin import AdminCaller, admin_csrf_token, require_admin
from coordinator.app.competitions.creation import cancel_competition, create_competition
from coordinator.app.runtime import Runtime
from coordinator.app.web.data import WeatherUnavailableError
from coordinator.app.web.render import Renderer
from coordinator.app.web.sources import page_data
from coordinator.app.web.station_map import build_maps
from coordinator.app.web.store_reader import competition_view
from coordinator.app.web.views import StationWeather
from coordinator.domain.competitions.terms import CompetitionTerms
from coordinator_core.errors import AuthError, CoordinatorError
from coordinator_core.ids import uuid7

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
LIST_LIMIT = 200


def _renderer(request: Request) -> Renderer:
    renderer: Renderer = request.app.state.admin_renderer
    return renderer


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _admin_or_none(request: Request) -> AdminCaller | None:
    try:
        return await require_admin(request)
    except AuthError as exc:
        if exc.status == 403:  # authenticated, but not as an admin: refused, not a login form
            raise
        return None


MaybeAdmin = Annotated[AdminCaller | None, Depends(_admin_or_none)]
Admin = Annotated[AdminCaller, Depends(require_admin)]


def _page(
    request: Request, template: str, admin: AdminCaller | None, **context: Any
) -> HTMLResponse:
    renderer = _renderer(request)
    if admin is None:
        return renderer.page(request, "admin/login.html", csrf_token="")
    return renderer.page(request, template, csrf_token=admin_csrf_token(request) or "", **context)


def _notice(request: Request, message: str, ok: bool, status: int = 200) -> HTMLResponse:
    return _renderer(request).html("admin/_notice.html", status, message=message, ok=ok)


async def _competitions(request: Request) -> list[Any]:
    services = _runtime(request).competitions
    if services is None:
        return []
    page = await services.lc.store.page(LIST_LIMIT)
    return [competition_view(c) for c in page.items]


@router.get("/admin", response_class=HTMLResponse)
@router.get("/admin/", response_class=HTMLResponse)
@router.get("/admin/competitions", response_class=HTMLResponse)
async def competitions_page(request: Request, admin: MaybeAdmin) -> HTMLResponse:
    runtime = _runtime(request)
    now = dt.datetime.now(dt.UTC)
    stations: list[StationWeather] = []
    problem = None
    try:
        if admin is not None:  # anonymous requests get the login form: no oracle calls
            weather = page_data(request.app).weather
            listed = await weather.stations()
            ids = tuple(s.station_id for s in listed)
            stations = await weather.weather(ids, now, now + dt.timedelta(days=1))
    except WeatherUnavailableError as exc:
        problem = f"The oracle's stations are unavailable: {exc}"
    return _page(
        request,
        "admin/competitions.html",
        admin,
        competitions=await _competitions(request) if admin else [],
        stations=stations,
        station_maps=build_maps(stations),
        stations_problem=problem,
        enabled=runtime.competitions is not None,
        defaults=_defaults(now, runtime),
        now=now,
    )


def _defaults(now: dt.datetime, runtime: Runtime) -> dict[str, Any]:
    def local(value: dt.datetime) -> str:
        return value.strftime("%Y-%m-%dT%H:%M")

    return {
        "id": str(uuid7()),
        "start": local(now + dt.timedelta(hours=6)),
        "end": local(now + dt.timedelta(hours=24)),
        "signing": local(now + dt.timedelta(hours=33)),
        "delta": runtime.settings.coordinator.relative_locktime_block_delta,
    }


@router.get("/admin/competitions/{competition_id}", response_class=HTMLResponse)
async def competition_detail(
    request: Request, competition_id: uuid.UUID, admin: MaybeAdmin
) -> HTMLResponse:
    services = _runtime(request).competitions
    c = None if services is None or admin is None else await services.lc.store.load(competition_id)
    if admin is not None and c is None:
        return _renderer(request).page(
            request, "admin/problem.html", 404, csrf_token="", message="No such competition."
        )
    return _page(
        request,
        "admin/competition.html",
        admin,
        c=c,
        view=None if c is None else competition_view(c),
        history=[] if c is None else c.progress.history(),
        errors=[] if c is None else list(c.errors.errors),
    )


def _utc(value: str, name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: not a date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@router.post("/admin/competitions", response_class=HTMLResponse)
async def create(
    request: Request,
    _: Admin,
    id: Annotated[uuid.UUID, Form()],
    start: Annotated[str, Form(max_length=40)],
    end: Annotated[str, Form(max_length=40)],
    signing: Annotated[str, Form(max_length=40)],
    locations: Annotated[list[str], Form(max_length=50)],
    values_per_entry: Annotated[int, Form(ge=1, le=1000)],
    total_entries: Annotated[int, Form(ge=1, le=10_000)],
    entry_fee: Annotated[int, Form(ge=1)],
    coordinator_fee_percentage: Annotated[int, Form(ge=0, le=100)],
    places: Annotated[int, Form(ge=1, le=5)],
    delta: Annotated[int, Form(ge=1, le=32767)],
) -> HTMLResponse:
    services = _runtime(request).competitions
    if services is None:
        return _notice(request, "Competitions are disabled on this coordinator.", False, 503)
    try:
        terms = CompetitionTerms(
            id=id,
            signing_date=_utc(signing, "signing"),
            start_observation_date=_utc(start, "start"),
            end_observation_date=_utc(end, "end"),
            locations=tuple(sorted(set(locations))),
            number_of_values_per_entry=values_per_entry,
            number_of_places_win=places,
            total_allowed_entries=total_entries,
            entry_fee=entry_fee,
            coordinator_fee_percentage=coordinator_fee_percentage,
            total_competition_pool=entry_fee * total_entries,
            relative_locktime_block_delta=delta,
        )
        created = await create_competition(services.lc, terms)
    except (CoordinatorError, ValueError) as exc:
        return _notice(request, f"Not created: {_message(exc)}", False, 400)
    return _renderer(request).html(
        "admin/_created.html", competition=competition_view(created), now=dt.datetime.now(dt.UTC)
    )


def _message(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc)


@router.post("/admin/competitions/{competition_id}/cancel", response_class=HTMLResponse)
async def cancel(
    request: Request,
    competition_id: uuid.UUID,
    _: Admin,
    reason: Annotated[str, Form(min_length=1, max_length=500)] = "cancelled by the operator",
) -> HTMLResponse:
    services = _runtime(request).competitions
    if services is None:
        return _notice(request, "Competitions are disabled on this coordinator.", False, 503)
    try:
        await cancel_competition(services.lc, competition_id, reason)
    except CoordinatorError as exc:
        return _notice(request, f"Not cancelled: {_message(exc)}", False, 409)
    return _notice(request, "Cancelled. Held entry fees are being returned.", True)


@router.get("/admin/wallet", response_class=HTMLResponse)
async def wallet_page(request: Request, admin: MaybeAdmin) -> HTMLResponse:
    bitcoin = _runtime(request).bitcoin
    context: dict[str, Any] = {"problem": None, "balance": None, "address": None,
                               "outputs": [], "fees": {}}  # fmt: skip
    if admin is not None and bitcoin is not None:
        try:
            context["balance"] = await bitcoin.wallet.balance()
            context["address"] = await bitcoin.wallet.new_address()
            context["outputs"] = await bitcoin.wallet.outputs()
            context["fees"] = dict(sorted((await bitcoin.chain.fee_estimates()).items()))
        except CoordinatorError as exc:
            context["problem"] = f"The wallet could not answer: {_message(exc)}"
    return _page(request, "admin/wallet.html", admin, **context)


@router.post("/admin/wallet/send", response_class=HTMLResponse)
async def wallet_send(
    request: Request,
    _: Admin,
    address: Annotated[str, Form(min_length=14, max_length=120)],
    amount: Annotated[int | None, Form(ge=1)] = None,
    fee_rate: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    max_fee: Annotated[int | None, Form(ge=1)] = None,
) -> HTMLResponse:
    bitcoin = _runtime(request).bitcoin
    if bitcoin is None:
        return _notice(request, "The wallet is not running.", False, 503)
    try:
        sent = await bitcoin.wallet.send(
            address.strip(), amount, fee_rate=fee_rate, max_fee_sats=max_fee
        )
    except CoordinatorError as exc:
        return _notice(request, f"Not sent: {_message(exc)}", False, 400)
    return _notice(request, f"Sent: transaction {sent.txid}", True)
