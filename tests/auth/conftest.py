"""A coordinator with both listeners on free loopback ports, driven over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from coordinator.app.listeners import LISTENERS, Listener, ListenerGroup
from coordinator.app.runtime import Runtime
from coordinator.config import Settings, load_settings
from tests.conftest import free_port
from tests.support.nostr_auth import NostrSigner

ADMIN_SECRET = bytes.fromhex("a1" * 32)
USER_SECRET = bytes.fromhex("b2" * 32)
OTHER_SECRET = bytes.fromhex("c3" * 32)


def make_settings(tmp_path: Path, **env: Any) -> Settings:
    """Test-profile settings with every file under ``tmp_path`` and free ports."""
    api_port, admin_port = free_port(), free_port()
    base = {
        "COORDINATOR__DB__DATA_FOLDER": str(tmp_path / "data"),
        "COORDINATOR__COORDINATOR__PRIVATE_KEY_FILE": str(tmp_path / "creds" / "key.pem"),
        "COORDINATOR__BITCOIN__STORAGE_FILE": str(tmp_path / "data" / "bitcoin.db"),
        "COORDINATOR__API__PORT": str(api_port),
        "COORDINATOR__API__ORIGINS": (
            f'["http://127.0.0.1:{api_port}", "http://localhost:{api_port}"]'
        ),
        "COORDINATOR__ADMIN__PORT": str(admin_port),
        "COORDINATOR__ADMIN__TOKEN_FILE": str(tmp_path / "creds" / "admin_token"),
        "COORDINATOR__ADMIN__NPUBS": f'["{NostrSigner(ADMIN_SECRET).npub}"]',
    }
    base.update({key: str(value) for key, value in env.items()})
    return load_settings(Path("config/e2e.toml"), env=base)


def with_routes(listener_name: str, extend: Callable[[FastAPI], None]) -> list[Listener]:
    """The standard listeners, with extra routes on one of them."""

    def wrap(
        build: Callable[[Settings, Runtime], FastAPI],
    ) -> Callable[[Settings, Runtime], FastAPI]:
        def built(settings: Settings, runtime: Runtime) -> FastAPI:
            app = build(settings, runtime)
            extend(app)
            return app

        return built

    return [
        Listener(item.name, item.address, wrap(item.build)) if item.name == listener_name else item
        for item in LISTENERS
    ]


class Coordinator:
    """A running listener group and HTTP clients for its listeners."""

    def __init__(self, group: ListenerGroup) -> None:
        self.group = group
        self.public_url = group.urls["public"]
        self.admin_url = group.urls["admin"]
        self.public = httpx.AsyncClient(base_url=self.public_url, timeout=30)
        self.admin = httpx.AsyncClient(base_url=self.admin_url, timeout=30)

    @property
    def runtime(self) -> Runtime:
        assert self.group.runtime is not None
        return self.group.runtime

    @property
    def admin_token(self) -> str:
        return self.group.settings.admin.token_file.read_text().strip()

    async def close(self) -> None:
        await self.public.aclose()
        await self.admin.aclose()


@asynccontextmanager
async def start_coordinator(
    settings: Settings, listeners: list[Listener] | None = None
) -> AsyncIterator[Coordinator]:
    async with ListenerGroup(settings, listeners or LISTENERS) as group:
        coordinator = Coordinator(group)
        try:
            yield coordinator
        finally:
            await coordinator.close()


@pytest.fixture
def user() -> NostrSigner:
    return NostrSigner(USER_SECRET)


@pytest.fixture
def admin_signer() -> NostrSigner:
    return NostrSigner(ADMIN_SECRET)
