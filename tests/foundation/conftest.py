"""Fixtures for the foundation tests: isolated settings and a running application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from coordinator.app.server import create_app
from coordinator.config import DbSettings, Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Test-profile settings whose files all live under ``tmp_path``."""
    return load_settings(
        Path("config/e2e.toml"),
        env={
            "COORDINATOR__DB__DATA_FOLDER": str(tmp_path / "data"),
            "COORDINATOR__COORDINATOR__PRIVATE_KEY_FILE": str(tmp_path / "creds" / "key.pem"),
            "COORDINATOR__BITCOIN__STORAGE_FILE": str(tmp_path / "data" / "bitcoin.db"),
            "COORDINATOR__ADMIN__TOKEN_FILE": str(tmp_path / "creds" / "admin_token"),
        },
    )


@pytest.fixture
def db_settings() -> DbSettings:
    return DbSettings(read_connections=4)


@pytest.fixture
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The application with its lifespan started, and a client talking to it in process."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client
