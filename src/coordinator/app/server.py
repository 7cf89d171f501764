"""The FastAPI applications: the public API and the admin listener, sharing one runtime.

``create_app`` and ``create_admin_app`` take the process's :class:`Runtime` when it is started
outside them (``coordinator serve`` runs every listener of :mod:`coordinator.app.listeners` in
one process over one runtime). Without one, the app starts and stops its own runtime with the
ASGI lifespan, which is how a single app is run in tests or under another ASGI server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from coordinator import __version__
from coordinator.app.auth.admin import (
    AdminDep,
    AdminHeadersMiddleware,
    admin_pubkeys,
    session_router,
)
from coordinator.app.auth.limits import RateLimiter
from coordinator.app.auth.nostr import RawBodyMiddleware
from coordinator.app.auth.users_api import UserLimits
from coordinator.app.auth.users_api import router as users_router
from coordinator.app.competitions.admin_api import router as competitions_admin_router
from coordinator.app.competitions.api import router as competitions_router
from coordinator.app.errors import install_error_handlers
from coordinator.app.health import HealthProbeMiddleware
from coordinator.app.openapi_errors import document_errors
from coordinator.app.probes import probes_router
from coordinator.app.runtime import Runtime
from coordinator.app.web.site import install_admin_pages, install_public_pages
from coordinator.config import Settings
from coordinator_core.asgi_app import OPENAPI_PATH, api_app
from coordinator_core.body_limit import BodyLimitMiddleware
from coordinator_core.http_origin import OriginPolicy

log = logging.getLogger(__name__)

health_router = APIRouter()
HEALTH_PATH = "/api/v1/health_check"


def health_answer(app: FastAPI) -> tuple[int, dict[str, Any]]:
    """200 when every background task and database writer is alive and the last integrity
    check of every database passed (503 with the problems otherwise); no I/O."""
    runtime: Runtime = app.state.runtime
    problems = runtime.health_problems()
    integrity = runtime.integrity
    checked = {"integrity_checked_at": integrity.checked_at_unix if integrity else None}
    if problems:
        return 503, {"status": "unhealthy", "problems": problems, **checked}
    return 200, {"status": "ok", "version": __version__, **checked}


@health_router.get(HEALTH_PATH)
async def health_check(request: Request) -> JSONResponse:
    """The service's health (see :func:`health_answer`); :class:`HealthProbeMiddleware`
    answers it ahead of routing."""
    status, body = health_answer(request.app)
    return JSONResponse(body, status_code=status)


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _lifespan(settings: Settings, runtime: Runtime | None) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            yield  # the runtime belongs to whoever started it
            return
        own = await Runtime.start(settings)
        app.state.runtime = own
        log.info("coordinator %s ready (profile %s)", __version__, settings.profile)
        try:
            yield
        finally:
            await own.stop()
            log.info("coordinator stopped; databases checkpointed")

    return lifespan


def _base_app(
    title: str, settings: Settings, runtime: Runtime | None, openapi_url: str | None = OPENAPI_PATH
) -> FastAPI:
    app = api_app(title, _lifespan(settings, runtime), __version__, openapi_url)
    if runtime is not None:
        app.state.runtime = runtime
    # Innermost first: the raw body is captured only after the size limit applies.
    app.add_middleware(RawBodyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api.max_body_bytes)
    install_error_handlers(app)
    document_errors(app)
    return app


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """The public API. It never serves an operator route (those are on the admin app)."""
    app = _base_app("Forecast Coordinator", settings, runtime)
    app.state.origin_policy = OriginPolicy.from_config(
        settings.api.nip98_origins, settings.api.trusted_proxies, settings.api.client_ip_header
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.api.origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Accept", "Content-Type", "Authorization"],
        allow_credentials=True,
    )
    app.state.user_limits = UserLimits(settings.auth)
    app.include_router(health_router)
    app.include_router(users_router)
    app.include_router(probes_router)
    app.include_router(competitions_router)
    install_public_pages(app, settings)
    # Outermost: probes skip CORS, body handling and routing.
    app.add_middleware(HealthProbeMiddleware, path=HEALTH_PATH, answer=health_answer)
    return app


def create_admin_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """The operator listener: every route but ``POST /admin/login`` needs ``require_admin``."""
    # No anonymous schema: the OpenAPI document is served to admins only (below).
    app = _base_app("Forecast Coordinator admin", settings, runtime, openapi_url=None)
    admin = settings.admin
    app.state.origin_policy = OriginPolicy.from_config(
        admin.nip98_origins, admin.trusted_proxies, settings.api.client_ip_header
    )
    app.state.admin_pubkeys = admin_pubkeys(admin.npubs)
    app.state.session_ttl_secs = admin.session_ttl_secs
    app.state.login_limiter = RateLimiter(
        settings.auth.address_attempts_per_minute,
        settings.auth.address_burst,
        settings.auth.limiter_capacity,
    )
    app.add_middleware(AdminHeadersMiddleware)
    app.include_router(session_router)
    app.include_router(competitions_admin_router)
    install_admin_pages(app, settings)

    @app.get("/api/v1/admin/openapi.json", include_in_schema=False)
    async def admin_openapi(_: AdminDep) -> dict[str, Any]:
        return app.openapi()

    return app
