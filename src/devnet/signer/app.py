"""HTTP API of the devnet keymeld gateway: ``/api/v1`` as keymeld 0.10 serves it, plus control.

* Errors: ``{"error": {"type", "message", "code"}, "timestamp"}`` for the gateway's own
  rejections; plain text for framework rejections (missing typed header 400, wrong
  Content-Type 415, malformed JSON 400, missing or ill-typed field 422), bodies over the limit
  413; admission 429 with ``Retry-After`` and ``{"error_code": "rate_limited", "message"}``.
* Every response carries a fresh ``X-Request-Id``.
* ``/devnet/enclaves`` (bearer token): enclave epochs and nonce counters; ``POST
  /devnet/enclaves/{id}/restart {"rotate_key": bool}`` restarts an enclave.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from coordinator_core.asgi_app import api_app
from coordinator_core.body_limit import BodyLimitMiddleware
from coordinator_core.errors import ValidationError
from coordinator_core.ids import uuid7
from coordinator_core.keymeld.wire import WireError, as_bool, as_object, as_uuid, loads
from coordinator_core.validation import MAX_UINT32, decimal_int, is_hex
from devnet.common import require_devnet_token
from devnet.signer.service import ApiError, GatewayService, PlainError

log = logging.getLogger(__name__)

HEALTH_PATH: Final = "/api/v1/health"
SESSION_HEADER: Final = "x-session-signature"
USER_HEADER: Final = "x-user-signature"


def _error(status: int, message: str, kind: str) -> JSONResponse:
    body = {
        "error": {"type": kind, "message": message, "code": status},
        "timestamp": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
    }
    return JSONResponse(body, status_code=status)


@dataclass
class TokenBucket:
    """Admission: ``burst`` requests at once, refilled at ``rate`` per second."""

    burst: float
    rate: float
    tokens: float = field(default=0.0)
    stamp: float = field(default=0.0)

    def take(self, now: float) -> float:
        """0 if admitted, else the seconds until a token is available."""
        if self.stamp == 0.0:
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass(frozen=True)
class Admission:
    """Admission limits (keymeld-0.10 §4.9): per client IP and global."""

    per_ip_burst: int = 512
    per_ip_rate: float = 30.0
    global_burst: int = 2048
    global_rate: float = 120.0
    max_tracked_ips: int = 8192


class Admitter:
    def __init__(self, limits: Admission) -> None:
        self.limits = limits
        self.global_bucket = TokenBucket(limits.global_burst, limits.global_rate)
        self.buckets: dict[str, TokenBucket] = {}

    def admit(self, ip: str) -> float:
        now = time.monotonic()
        bucket = self.buckets.get(ip)
        if bucket is None:
            if len(self.buckets) >= self.limits.max_tracked_ips:
                self.buckets.clear()
            bucket = self.buckets[ip] = TokenBucket(
                self.limits.per_ip_burst, self.limits.per_ip_rate
            )
        wait = bucket.take(now)
        return wait if wait else self.global_bucket.take(now)


def _admitted(request: Request) -> bool:
    path = request.url.path
    if not path.startswith("/api/v1/"):
        return False
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return path.endswith(("/public-key", "/capabilities"))
    return True


def create_app(service: GatewayService, token: str, admission: Admission | None = None) -> FastAPI:
    """The devnet gateway application around ``service``."""
    admitter = Admitter(admission or Admission())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_background(service))
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            service.close()

    app = api_app("devnet keymeld gateway", lifespan)
    app.state.service, app.state.devnet_token = service, token
    app.add_middleware(BodyLimitMiddleware, max_bytes=service.limits.max_body_bytes)

    @app.middleware("http")
    async def _request_id_and_admission(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if _admitted(request):
            ip = request.client.host if request.client else "unknown"
            wait = admitter.admit(ip)
            if wait:
                response: Response = JSONResponse(
                    {"error_code": "rate_limited", "message": "too many requests"},
                    status_code=429,
                    headers={"Retry-After": str(max(1, int(wait + 0.999)))},
                )
            else:
                response = await call_next(request)
        else:
            response = await call_next(request)
        response.headers["X-Request-Id"] = str(uuid7())
        return response

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        message = exc.message if exc.status < 500 else "internal error"
        return _error(exc.status, message, exc.type)

    @app.exception_handler(PlainError)
    async def _plain_error(_: Request, exc: PlainError) -> PlainTextResponse:
        return PlainTextResponse(exc.message, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401:  # devnet control token
            return _error(401, str(exc.detail), "unauthorized")
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    app.include_router(gateway)
    app.include_router(control)
    return app


async def _background(service: GatewayService) -> None:
    """The gateway's coordinator task: one state per session per tick."""
    while True:
        try:
            await asyncio.to_thread(service.tick)
        except Exception:
            log.exception("background tick failed")
        await asyncio.sleep(service.config.tick_secs)


def _service(request: Request) -> GatewayService:
    service: GatewayService = request.app.state.service
    return service


Service = Annotated[GatewayService, Depends(_service)]


async def _json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise PlainError(415, "Expected request with `Content-Type: application/json`")
    raw = await request.body()
    try:
        return loads(raw, "body", 1 << 26)
    except WireError as exc:
        raise PlainError(400, f"Failed to parse the request body as JSON: {exc.message}") from None


def _uuid_path(value: str) -> str:
    try:
        return as_uuid(value, "path")
    except WireError:
        raise PlainError(400, "Invalid URL: UUID parsing failed") from None


# -- /api/v1 ----------------------------------------------------------------------------------

gateway = APIRouter(prefix="/api/v1")


@gateway.post("/keygen/reserve")
async def reserve(request: Request, service: Service) -> Any:
    return await run_in_threadpool(service.reserve, await _json_body(request))


@gateway.post("/keygen/{session_id}/initialize")
async def initialize(session_id: str, request: Request, service: Service) -> Any:
    body = await _json_body(request)
    return await run_in_threadpool(service.initialize, _uuid_path(session_id), body)


@gateway.get("/keygen/{session_id}/slots")
async def slots(session_id: str, request: Request, service: Service) -> Any:
    header = request.headers.get(SESSION_HEADER)
    return await run_in_threadpool(service.slots, _uuid_path(session_id), header)


@gateway.post("/keygen/{session_id}/participants")
async def register(session_id: str, request: Request, service: Service) -> Any:
    header = request.headers.get(SESSION_HEADER)
    body = await _json_body(request)
    return await run_in_threadpool(service.register, _uuid_path(session_id), header, body)


@gateway.get("/keygen/{session_id}/status")
async def keygen_status(session_id: str, request: Request, service: Service) -> Any:
    header = request.headers.get(SESSION_HEADER)
    return await run_in_threadpool(service.keygen_status, _uuid_path(session_id), header)


@gateway.post("/signing")
async def create_signing(request: Request, service: Service) -> Any:
    header = request.headers.get(SESSION_HEADER)
    return await run_in_threadpool(service.create_signing, header, await _json_body(request))


@gateway.post("/signing/{signing_id}/approve/{user_id}")
async def approve(signing_id: str, user_id: str, request: Request, service: Service) -> Response:
    header = request.headers.get(USER_HEADER)
    body = await _json_body(request)
    await run_in_threadpool(
        service.approve, _uuid_path(signing_id), _uuid_path(user_id), header, body
    )
    return Response(status_code=200)


@gateway.get("/signing/{signing_id}/status/{user_id}")
async def signing_status(signing_id: str, user_id: str, request: Request, service: Service) -> Any:
    header = request.headers.get(USER_HEADER)
    return await run_in_threadpool(
        service.signing_status, _uuid_path(signing_id), _uuid_path(user_id), header
    )


@gateway.get("/enclaves")
def enclaves(service: Service) -> Any:
    return service.enclave_list()


@gateway.get("/enclaves/{enclave_id}/public-key")
async def enclave_key(enclave_id: str, request: Request, service: Service) -> Any:
    try:
        enclave = decimal_int(enclave_id, "enclave id", high=MAX_UINT32)
    except ValidationError:
        raise PlainError(400, "Invalid URL: enclave id is not a number") from None
    nonce_hex = request.query_params.get("nonce")
    nonce = None
    if nonce_hex is not None:
        if not is_hex(nonce_hex, 32):
            raise ApiError(400, "nonce must be 64 hex characters")
        nonce = bytes.fromhex(nonce_hex)
    return await run_in_threadpool(service.enclave_key, enclave, nonce)


@gateway.get("/health")
def health(service: Service) -> Response:
    return Response(status_code=200)


@gateway.get("/health/detail")
def health_detail(service: Service) -> Any:
    return service.health()


@gateway.get("/version")
def version() -> Any:
    return {
        "service": "KeyMeld Gateway",
        "version": "0.10.5-devnet",
        "api_version": "v1",
        "features": {
            "service_participation": True,
            "user_authentication": True,
            "enclave_isolation": True,
        },
    }


@gateway.get("/escrow/capabilities")
def capabilities() -> Any:
    return {"escrow": False}


# -- /devnet ----------------------------------------------------------------------------------

control = APIRouter(prefix="/devnet", dependencies=[Depends(require_devnet_token)])


@control.get("/enclaves")
def enclave_stats(service: Service) -> Any:
    return service.enclave_stats()


@control.post("/enclaves/{enclave_id}/restart")
async def restart_enclave(enclave_id: int, request: Request, service: Service) -> Any:
    raw = await request.body()
    try:
        body = as_object(loads(raw or b"{}", "body", 4096), "body")
        rotate = as_bool(body.get("rotate_key", False), "rotate_key")
    except WireError as exc:
        raise ApiError(400, exc.message) from None
    return await run_in_threadpool(service.restart_enclave, enclave_id, rotate)
