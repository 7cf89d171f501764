"""The devnet chain's FastAPI application: Esplora routes, control routes, health, automine."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from coordinator.app.body_limit import BodyLimitMiddleware
from devnet.chain.api import control_router, esplora_router, install_error_handlers
from devnet.chain.automine import Autominer
from devnet.chain.chain import DevnetChain
from devnet.chain.queries import EsploraQueries

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
HEALTH_PATH = "/health"


def create_app(data_dir: Path, token: str, automine_secs: float = 0.0) -> FastAPI:
    """The chain service; the chain opens with the app's lifespan and closes with it."""
    running: dict[str, Any] = {}

    def get_chain() -> DevnetChain:
        chain: DevnetChain = running["chain"]
        return chain

    def get_autominer() -> Autominer:
        autominer: Autominer = running["autominer"]
        return autominer

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chain = DevnetChain(data_dir)
        autominer = Autominer(chain, automine_secs)
        running.update(chain=chain, autominer=autominer)
        autominer.start()
        log.info("devnet chain ready at height %d", chain.tip().height)
        try:
            yield
        finally:
            autominer.stop()
            chain.close()
            log.info("devnet chain stopped")

    app = FastAPI(title="Devnet chain (Esplora API)", lifespan=lifespan)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    install_error_handlers(app)
    app.include_router(control_router(get_chain, get_autominer, token))
    app.include_router(esplora_router(EsploraQueries(get_chain)))

    @app.get(HEALTH_PATH)
    def health() -> dict[str, Any]:
        return {"status": "ok", "height": get_chain().tip().height}

    return app
