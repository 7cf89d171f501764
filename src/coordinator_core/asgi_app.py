"""The FastAPI application every HTTP service of the system starts from.

Each serves its OpenAPI document at ``/openapi.json`` (clients and the HTTP fuzz tests read
it) and no documentation pages: FastAPI's Swagger UI and ReDoc pages load their scripts from
a CDN, which a production service must not make its users' browsers do.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Final

from fastapi import FastAPI

OPENAPI_PATH: Final = "/openapi.json"

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def api_app(
    title: str,
    lifespan: Lifespan | None = None,
    version: str = "0.1.0",
    openapi_url: str | None = OPENAPI_PATH,
) -> FastAPI:
    """A FastAPI application with the OpenAPI document (unless ``openapi_url`` is None, for an
    app that serves it only behind authentication) and without documentation pages."""
    return FastAPI(
        title=title,
        version=version,
        lifespan=lifespan,
        openapi_url=openapi_url,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )


__all__ = ["OPENAPI_PATH", "api_app"]
