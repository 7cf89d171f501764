"""The FastAPI application: wiring of the runtime, routes, middleware and shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from coordinator import __version__
from coordinator.app.errors import install_error_handlers
from coordinator.app.runtime import Runtime
from coordinator.config import Settings
from coordinator_core.asgi_app import api_app
from coordinator_core.body_limit import BodyLimitMiddleware

log = logging.getLogger(__name__)

health_router = APIRouter()


@health_router.get("/api/v1/health_check")
async def health_check(request: Request) -> JSONResponse:
    """200 when every background task and database writer is alive and the last integrity
    check of every database passed (503 with the problems otherwise)."""
    runtime: Runtime = request.app.state.runtime
    problems = runtime.health_problems()
    if problems:
        return JSONResponse({"status": "unhealthy", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ok", "version": __version__})


def create_app(settings: Settings) -> FastAPI:
    """Build the application; the runtime starts with the ASGI lifespan and stops with it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings)
        app.state.runtime = runtime
        log.info("coordinator %s ready (profile %s)", __version__, settings.profile)
        try:
            yield
        finally:
            await runtime.stop()
            log.info("coordinator stopped; databases checkpointed")

    app = api_app("Forecast Coordinator", lifespan, version=__version__)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.api.origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Accept", "Content-Type", "Authorization"],
        allow_credentials=True,
    )
    install_error_handlers(app)
    app.include_router(health_router)
    return app
