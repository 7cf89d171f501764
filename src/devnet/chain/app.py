"""The devnet chain's FastAPI application: Esplora routes, control routes, health, automine."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from coordinator_core.asgi_app import api_app
from coordinator_core.body_limit import BodyLimitMiddleware
from devnet.chain.api import Chain, control, esplora, install_error_handlers
from devnet.chain.automine import Autominer
from devnet.chain.chain import DevnetChain

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
HEALTH_PATH = "/health"


def create_app(data_dir: Path, token: str, automine_secs: float = 0.0) -> FastAPI:
    """The chain service; the chain opens with the app's lifespan and closes with it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chain = DevnetChain(data_dir)
        autominer = Autominer(chain, automine_secs)
        app.state.chain, app.state.autominer = chain, autominer
        autominer.start()
        log.info("devnet chain ready at height %d", chain.tip().height)
        try:
            yield
        finally:
            autominer.stop()
            chain.close()
            log.info("devnet chain stopped")

    app = api_app("Devnet chain (Esplora API)", lifespan)
    app.state.devnet_token = token
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    install_error_handlers(app)
    app.include_router(control)
    app.include_router(esplora)
    app.add_api_route(HEALTH_PATH, health, methods=["GET"])
    return app


def health(chain: Chain) -> dict[str, Any]:
    return {"status": "ok", "height": chain.tip().height}
