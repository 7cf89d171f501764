"""Puts the public pages on an application: assets, renderer, page data and routes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI

from coordinator.app.web import assets, public
from coordinator.app.web.data import CompetitionReader, NoCompetitions, PageData, WeatherSource
from coordinator.app.web.render import Renderer
from coordinator.app.web.store_reader import StoreReader
from coordinator.config import Settings
from coordinator.domain.ports.oracle import OraclePort
from coordinator_core.nip98 import MemoryReplayGuard

log = logging.getLogger(__name__)
BRAND = "Forecast Coordinator"


def site_context(settings: Settings, store: assets.AssetStore, layout: str) -> dict[str, Any]:
    return {
        "brand": BRAND,
        "network": settings.bitcoin.network,
        "api_base": "",
        "assets": store,
        "layout": layout,
    }


def install_public_pages(app: FastAPI, settings: Settings) -> None:
    """Routes and renderer of the public pages; data comes with :func:`attach_page_data`."""
    store = assets.AssetStore.load()
    if store.missing:
        log.warning(
            "browser module not built (missing %s): run `make web` (npm ci + esbuild)",
            ", ".join(store.missing),
        )
    app.state.assets = store
    app.state.public_renderer = Renderer(site_context(settings, store, "public/base.html"))
    app.state.page_replay_guard = MemoryReplayGuard()
    app.include_router(assets.router)
    app.include_router(public.router)


def page_data(app: FastAPI) -> PageData:
    """The pages' sources: set by :func:`attach_page_data`, else built once from the runtime
    (its oracle client and competition store)."""
    data: PageData | None = getattr(app.state, "page_data", None)
    if data is None:
        runtime = app.state.runtime
        reader: CompetitionReader | None = None
        if runtime.competitions is not None:
            reader = StoreReader(runtime.competitions.lc.store, runtime.settings.bitcoin.network)
        attach_page_data(app, runtime.settings, runtime.oracle, reader)
        data = app.state.page_data
    return data


def attach_page_data(
    app: FastAPI,
    settings: Settings,
    oracle: OraclePort | None,
    competitions: CompetitionReader | None = None,
) -> None:
    """Give the pages their sources once the runtime is up."""
    app.state.page_data = PageData(
        competitions or NoCompetitions(), WeatherSource(oracle), settings.bitcoin.network
    )
