from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from coordinator.app.server import create_app
from coordinator.config import Settings
from coordinator_core.errors import ConfigError
from coordinator_core.keyfile import encode_secret_pem

AppAndClient = tuple[FastAPI, httpx.AsyncClient]


async def test_health_check_ok(running_app: AppAndClient) -> None:
    _, client = running_app
    response = await client.get("/api/v1/health_check")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_health_check_fails_when_a_background_task_dies(running_app: AppAndClient) -> None:
    app, client = running_app
    release = asyncio.Event()

    async def worker() -> None:
        await release.wait()
        raise RuntimeError("lost connection")

    app.state.runtime.tasks.start("watcher", worker)
    assert (await client.get("/api/v1/health_check")).status_code == 200
    release.set()
    await asyncio.sleep(0.01)
    response = await client.get("/api/v1/health_check")
    assert response.status_code == 503
    assert response.json()["problems"] == ["background task watcher is not running"]


async def test_health_check_fails_when_a_writer_stops(running_app: AppAndClient) -> None:
    app, client = running_app
    app.state.runtime.users_db.close()
    response = await client.get("/api/v1/health_check")
    assert response.status_code == 503
    assert "database users: writer is not running" in response.json()["problems"]


async def test_shutdown_checkpoints_every_database(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        for i in range(50):
            await runtime.competitions_db.write(
                lambda conn, i=i: conn.execute(
                    "INSERT INTO competitions (id, created_at, event_submission) "
                    "VALUES (?, 't', '{}')",
                    (f"c{i}",),
                )
            )
        wal = settings.db.data_folder / "competitions.db-wal"
        assert wal.stat().st_size > 0
    for name in ("competitions.db", "users.db"):
        wal = settings.db.data_folder / f"{name}-wal"
        assert not wal.exists() or wal.stat().st_size == 0


async def test_body_size_is_bounded(running_app: AppAndClient, settings: Settings) -> None:
    _, client = running_app
    big = b"x" * (settings.api.max_body_bytes + 1)
    response = await client.post("/api/v1/health_check", content=big)
    assert response.status_code == 413
    assert "request body over" in response.json()["error"]


async def test_start_refuses_a_different_coordinator_key(
    settings: Settings, tmp_path: Path
) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass
    settings.coordinator.private_key_file.write_text(encode_secret_pem(b"\x01" * 32))
    app = create_app(settings)
    with pytest.raises(ConfigError, match="does not match the key"):
        async with app.router.lifespan_context(app):
            pass
