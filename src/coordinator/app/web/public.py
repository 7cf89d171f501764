"""The public pages: competitions, entry form, leaderboard, my entries, payouts, help.

Every page route renders the full layout for a normal request and the fragment for htmx.
"My entries" and "Payouts" are personal: their fragments need a NIP-98 signature (added by
the browser module to the htmx request); a deep link without one gets the layout with a
placeholder that the browser fills once the player is logged in.
"""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from coordinator.app.auth.nostr import has_nostr_auth, verify_nostr_request
from coordinator.app.web.data import PageData, WeatherUnavailableError
from coordinator.app.web.render import Renderer, wants_fragment
from coordinator.app.web.sources import page_data
from coordinator.app.web.station_map import build_maps
from coordinator.app.web.views import EntryView, StationWeather
from coordinator.domain.scoring import ScoringRules, leaderboard, score_card
from coordinator_core.nip98 import Nip98Error
from coordinator_core.observations import DEFAULT_METRICS

router = APIRouter(include_in_schema=False)
COMPETITIONS_LIMIT = 200
#: States in which the oracle holds no event (or no entries) of the competition yet.
BEFORE_ORACLE_EVENT = frozenset({"created", "collecting_entries", "entries_collected", "cancelled"})
ATTESTED_STATES = frozenset(
    {"attested", "outcome_broadcasted", "delta_broadcasted", "expiry_broadcasted", "completed"}
)


def _renderer(request: Request) -> Renderer:
    renderer: Renderer = request.app.state.public_renderer
    return renderer


def _data(request: Request) -> PageData:
    return page_data(request.app)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _not_found(request: Request, what: str) -> HTMLResponse:
    return _renderer(request).page(
        request, "public/problem.html", 404, title="Not found", message=f"{what} was not found."
    )


@router.get("/", response_class=HTMLResponse)
@router.get("/competitions", response_class=HTMLResponse)
async def competitions_page(request: Request) -> HTMLResponse:
    items = await _data(request).competitions.competitions(COMPETITIONS_LIMIT)
    return _renderer(request).page(
        request, "public/competitions.html", competitions=items, now=_now()
    )


@router.get("/competitions/rows", response_class=HTMLResponse)
async def competition_rows(request: Request) -> HTMLResponse:
    items = await _data(request).competitions.competitions(COMPETITIONS_LIMIT)
    return _renderer(request).html("public/_competition_rows.html", competitions=items, now=_now())


async def _weather(data: PageData, station_ids: tuple[str, ...], start: dt.datetime,
                   end: dt.datetime) -> tuple[list[StationWeather], str | None]:  # fmt: skip
    try:
        return await data.weather.weather(station_ids, start, end), None
    except WeatherUnavailableError:
        unknown = [StationWeather.unknown(station_id) for station_id in station_ids]
        return unknown, "Weather data is unavailable right now; the oracle could not be reached."


@router.get("/competitions/{competition_id}/entry-form", response_class=HTMLResponse)
async def entry_form(request: Request, competition_id: uuid.UUID) -> HTMLResponse:
    data = _data(request)
    competition = await data.competitions.competition(competition_id)
    if competition is None:
        return _not_found(request, "That competition")
    # Picks compare against the forecast for the observation window.
    weather, problem = await _weather(data, competition.locations, competition.start,
                                      competition.end)  # fmt: skip
    return _renderer(request).page(
        request,
        "public/entry_form.html",
        competition=competition,
        weather=weather,
        station_maps=build_maps(weather),
        weather_problem=problem,
        now=_now(),
    )


async def _leaderboard(data: PageData, competition_id: uuid.UUID) -> list[EntryView]:
    competition = await data.competitions.competition(competition_id)
    if competition is None:
        return []
    records = await data.competitions.entries_of(competition_id)
    await data.learn_names(records)
    rules = ScoringRules(competition.locations, DEFAULT_METRICS, competition.start)
    try:
        forecasts, observations = await data.weather.rows(
            competition.locations, competition.start, competition.end
        )
    except WeatherUnavailableError:
        forecasts, observations = [], []
    cards = {r.id: score_card(r.id, r.picks, rules, forecasts, observations) for r in records}
    by_id = {r.id: r for r in records}
    scored = None
    if competition.state not in BEFORE_ORACLE_EVENT:
        try:
            scored = await data.weather.scores(competition_id, competition.state in ATTESTED_STATES)
        except WeatherUnavailableError:
            scored = None
    oracle_scores: dict[uuid.UUID, int | None] = {
        r.id: (scored or {}).get(r.id, r.oracle_score) for r in records
    }
    rows = leaderboard(list(cards.values()), oracle_scores)
    return [
        EntryView(
            row.entry_id,
            competition_id,
            data.owner_label(by_id[row.entry_id]),
            cards[row.entry_id],
            rank=row.rank,
            oracle_score=row.oracle_score,
        )
        for row in rows
    ]


@router.get("/competitions/{competition_id}/leaderboard", response_class=HTMLResponse)
async def leaderboard_page(request: Request, competition_id: uuid.UUID) -> HTMLResponse:
    data = _data(request)
    competition = await data.competitions.competition(competition_id)
    if competition is None:
        return _not_found(request, "That competition")
    rows = await _leaderboard(data, competition_id)
    return _renderer(request).page(
        request, "public/leaderboard.html", competition=competition, rows=rows, now=_now()
    )


@router.get("/competitions/{competition_id}/leaderboard/rows", response_class=HTMLResponse)
async def leaderboard_rows(request: Request, competition_id: uuid.UUID) -> HTMLResponse:
    rows = await _leaderboard(_data(request), competition_id)
    return _renderer(request).html("public/_leaderboard_rows.html", rows=rows)


@router.get("/entries/{entry_id}/detail", response_class=HTMLResponse)
async def entry_detail(request: Request, entry_id: uuid.UUID) -> HTMLResponse:
    data = _data(request)
    record = await data.competitions.entry(entry_id)
    entry = None
    if record is not None:
        entry = next(
            (e for e in await _leaderboard(data, record.competition_id) if e.id == entry_id), None
        )
    return _renderer(request).html("public/_entry_detail.html", entry=entry)


async def _caller(request: Request) -> tuple[str | None, Nip98Error | None]:
    """The NIP-98 signer of this request, checked by the API's gate (origins, replay)."""
    if not has_nostr_auth(request):
        if request.headers.get("authorization"):
            return None, Nip98Error(400, "invalid_auth_format", "use Nostr authorization")
        return None, None
    runtime = getattr(request.app.state, "runtime", None)
    guard = runtime.replay_guard if runtime is not None else request.app.state.page_replay_guard
    try:
        caller = await verify_nostr_request(request, request.app.state.origin_policy, guard)
    except Nip98Error as exc:
        return None, exc
    return caller.pubkey, None


_AUTH_MESSAGES = {
    "expired_timestamp": "Your session has expired. Please log in again.",
    "invalid_signature": "Authentication failed: the signature is not valid.",
}


async def _personal(request: Request, template: str, title: str) -> HTMLResponse:
    renderer = _renderer(request)
    pubkey, error = await _caller(request)
    if pubkey is None:
        if error is None and not wants_fragment(request):
            # A deep link: the browser module loads the signed fragment after login.
            return renderer.page(request, "public/personal_shell.html", title=title)
        message = "Please log in to see this page."
        if error is not None:
            message = _AUTH_MESSAGES.get(error.code, f"Authentication failed ({error.detail}).")
        status = 401 if error is None else error.status
        return renderer.page(request, "public/login_needed.html", status, message=message)
    data = _data(request)
    if template == "public/entries.html":
        records = await data.competitions.entries_owned_by(pubkey)
        await data.learn_names(records)
        competitions = {
            r.competition_id: await data.competitions.competition(r.competition_id) for r in records
        }
        return renderer.page(
            request, template, entries=[data.entry_view(r) for r in records],
            competitions=competitions,
        )  # fmt: skip
    payouts = await data.competitions.payouts_owned_by(pubkey)
    return renderer.page(request, template, payouts=payouts, network=data.network)


@router.get("/entries", response_class=HTMLResponse)
async def entries_page(request: Request) -> HTMLResponse:
    return await _personal(request, "public/entries.html", "My entries")


@router.get("/payouts", response_class=HTMLResponse)
async def payouts_page(request: Request) -> HTMLResponse:
    return await _personal(request, "public/payouts.html", "Payouts")


@router.get("/help", response_class=HTMLResponse)
async def help_page(request: Request) -> HTMLResponse:
    return _renderer(request).page(request, "public/help.html")
