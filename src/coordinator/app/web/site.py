"""Puts the public pages on an application: assets, renderer, page data and routes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI

from coordinator.app.web import admin, assets, chain, public
from coordinator.app.web.enclave import EnclaveTrustView
from coordinator.app.web.render import Renderer
from coordinator.app.web.sources import attach_page_data
from coordinator.config import Settings
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
        "enclave_trust": EnclaveTrustView(settings),
    }


def install_public_pages(app: FastAPI, settings: Settings) -> None:
    """Routes and renderer of the public pages (data: :mod:`coordinator.app.web.sources`)."""
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
    app.include_router(chain.router)


__all__ = ["attach_page_data", "install_admin_pages", "install_public_pages"]


def install_admin_pages(app: FastAPI, settings: Settings) -> None:
    """The operator pages on the admin listener (data: the runtime's lifecycle and wallet)."""
    store = assets.AssetStore.load()
    app.state.assets = store
    app.state.admin_renderer = Renderer(site_context(settings, store, "admin/base.html"))
    app.include_router(assets.router)
    app.include_router(admin.router)
