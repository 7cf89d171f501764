"""HTTP API of the devnet oracle: the noaa-oracle routes plus a ``/devnet`` control API.

Differences from the original, all deliberate: events expose ``nonce_point`` instead of the
secret ``nonce``; ``POST /oracle/update`` needs the devnet bearer token and runs synchronously,
answering with what it scored and signed; NIP-98 also checks the ``payload`` hash, refuses
replays and expects URLs of the configured origins (``--public-url``, default the loopback
address it listens on), honouring forwarding headers only from ``--trusted-proxy`` peers; bad
input is a 400 with ``{"error": …}``; there is a ``/health`` route; parquet file routes are
replaced by JSON weather uploads.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from coordinator_core.asgi_app import api_app
from coordinator_core.body_limit import BodyLimitMiddleware
from coordinator_core.errors import CoordinatorError, NotFoundError, ValidationError
from coordinator_core.http_origin import OriginPolicy, request_target
from coordinator_core.nip98 import Nip98Auth, Nip98Error, verify_auth_header
from coordinator_core.oracle_api import (
    AddEventEntries,
    CreateEvent,
    Event,
    EventSummary,
    KeyResponse,
    WeatherEntry,
)
from coordinator_core.validation import describe_errors
from devnet.common import require_devnet_token
from devnet.oracle.service import OracleService, SignerMismatchError
from devnet.oracle.stations import STATION_IDS
from devnet.oracle.weather import (
    TemperatureUnit,
    WeatherUpload,
    daily_observations,
    forecast_in_unit,
    observation_in_unit,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_QUERY_STATIONS = 50
MAX_LIST_LIMIT = 10_000
HEALTH_PATH = "/health"

ModelT = TypeVar("ModelT", bound=BaseModel)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _status_for(exc: CoordinatorError) -> int:
    if isinstance(exc, SignerMismatchError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ValidationError):
        return 400
    return 500


def _validation_message(exc: RequestValidationError | PydanticValidationError) -> str:
    return "Invalid request: " + describe_errors(exc.errors())


def _service(request: Request) -> OracleService:
    service: OracleService = request.app.state.service
    return service


Service = Annotated[OracleService, Depends(_service)]
Control = [Depends(require_devnet_token)]


async def _authenticated(
    request: Request, service: OracleService, model: type[ModelT]
) -> tuple[ModelT, Nip98Auth]:
    """Verify the NIP-98 header against the exact body, then parse the body as ``model``."""
    origins: OriginPolicy = request.app.state.origins
    body = await request.body()
    target = request_target(
        request.scope.get("raw_path", request.url.path.encode()),
        request.scope.get("query_string", b""),
    )
    client = request.scope.get("client")
    url = origins.expected_urls(client[0] if client else None, request.headers, target)
    auth = verify_auth_header(
        request.headers.get("authorization"),
        url,
        request.method,
        body,
        now=int(time.time()),
        replay_guard=service.store,
    )
    try:
        return model.model_validate_json(body), auth
    except PydanticValidationError as exc:
        raise ValidationError(_validation_message(exc)) from None


def _station_list(station_ids: str) -> list[str]:
    stations = station_ids.split(",")
    if len(stations) > MAX_QUERY_STATIONS:
        raise ValidationError(f"at most {MAX_QUERY_STATIONS} stations per query")
    unknown = [s for s in stations if s not in STATION_IDS]
    if unknown:
        raise ValidationError(f"{len(unknown)} unknown station id(s)")
    return stations


def create_app(service: OracleService, token: str, origins: OriginPolicy) -> FastAPI:
    """The devnet oracle application around ``service``, answering NIP-98 requests signed for
    one of ``origins`` (see :mod:`coordinator_core.http_origin`)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        imported = await run_in_threadpool(service.import_weather_files)
        if imported:
            log.info("imported %d weather file(s)", imported)
        yield
        service.store.close()

    app = api_app("devnet oracle", lifespan)
    app.state.service, app.state.devnet_token = service, token
    app.state.origins = origins
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    _install_error_handlers(app)
    app.add_api_route(HEALTH_PATH, health, methods=["GET"])
    app.include_router(oracle)
    app.include_router(weather)
    app.include_router(control)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CoordinatorError)
    async def _domain_error(_: Request, exc: CoordinatorError) -> JSONResponse:
        return _error(_status_for(exc), exc.message)

    @app.exception_handler(Nip98Error)
    async def _auth_error(_: Request, exc: Nip98Error) -> JSONResponse:
        body = {"error": {"type": exc.code, "detail": exc.detail}}
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))


def health() -> dict[str, str]:
    return {"status": "ok"}


# -- oracle ---------------------------------------------------------------------------------------

oracle = APIRouter(prefix="/oracle")


@oracle.get("/pubkey")
def pubkey(service: Service) -> KeyResponse:
    return KeyResponse(key=service.pubkey_base64())


@oracle.get("/npub")
def npub(service: Service) -> KeyResponse:
    return KeyResponse(key=service.npub())


@oracle.get("/events")
def list_events(
    service: Service, limit: Annotated[int | None, Query(ge=0, le=MAX_LIST_LIMIT)] = None
) -> list[EventSummary]:
    return service.list_events(limit)


@oracle.post("/events")
async def create_event(request: Request, service: Service) -> Event:
    body, auth = await _authenticated(request, service, CreateEvent)
    return await run_in_threadpool(service.create_event, body, auth.pubkey)


@oracle.get("/events/{event_id}")
def get_event(event_id: uuid.UUID, service: Service) -> Event:
    return service.get_event(event_id)


@oracle.post("/events/{event_id}/entries")
async def submit_entries(
    event_id: uuid.UUID, request: Request, service: Service
) -> list[WeatherEntry]:
    body, auth = await _authenticated(request, service, AddEventEntries)
    return await run_in_threadpool(service.submit_entries, event_id, body, auth.pubkey)


@oracle.get("/events/{event_id}/entries/{entry_id}")
def get_entry(event_id: uuid.UUID, entry_id: uuid.UUID, service: Service) -> WeatherEntry:
    return service.get_entry(event_id, entry_id)


@oracle.post("/update", dependencies=Control)
def update(service: Service) -> dict[str, list[str]]:
    return service.run_update().to_json()


# -- weather --------------------------------------------------------------------------------------

weather = APIRouter(prefix="/stations")
StationIds = Annotated[str, Query(max_length=MAX_QUERY_STATIONS * 16)]


@weather.get("")
def stations(service: Service) -> list[dict[str, Any]]:
    return [station.model_dump(mode="json") for station in service.stations()]


@weather.get("/forecasts")
def forecasts(
    service: Service,
    station_ids: StationIds,
    start: AwareDatetime | None = None,
    end: AwareDatetime | None = None,
    temperature_unit: TemperatureUnit = "fahrenheit",
) -> list[dict[str, Any]]:
    rows = service.forecasts(_station_list(station_ids), start, end)
    return [forecast_in_unit(row, temperature_unit).model_dump(mode="json") for row in rows]


@weather.get("/observations")
def observations(
    service: Service,
    station_ids: StationIds,
    start: AwareDatetime | None = None,
    end: AwareDatetime | None = None,
    temperature_unit: TemperatureUnit = "fahrenheit",
) -> list[dict[str, Any]]:
    rows = service.observations(_station_list(station_ids), start, end)
    return [observation_in_unit(row, temperature_unit).model_dump(mode="json") for row in rows]


@weather.get("/daily-observations")
def daily(
    service: Service,
    station_ids: StationIds,
    start: AwareDatetime | None = None,
    end: AwareDatetime | None = None,
    temperature_unit: TemperatureUnit = "fahrenheit",
) -> list[dict[str, Any]]:
    records = service.store.observations(_station_list(station_ids), start, end)
    out = []
    for day, row in daily_observations(records):
        item = observation_in_unit(row, temperature_unit).model_dump(
            mode="json", exclude={"start_time", "end_time"}
        )
        out.append({"date": day.isoformat(), **item})
    return out


# -- devnet control -------------------------------------------------------------------------------

control = APIRouter(prefix="/devnet", dependencies=Control)


@control.post("/weather")
def put_weather(upload: WeatherUpload, service: Service) -> dict[str, int]:
    return service.put_weather(upload)


@control.post("/events/{event_id}/attest")
def attest_now(event_id: uuid.UUID, service: Service) -> Event:
    return service.attest_now(event_id)
