"""The admin token file: created by development profiles, required and checked before
anything else is touched by production, refused when weak or readable by others."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.app.auth.admin_token import AdminToken, load_admin_token
from coordinator.app.listeners import ListenerGroup
from coordinator.config import load_settings
from coordinator_core.errors import ConfigError
from tests.auth.conftest import make_settings
from tests.conftest import free_port


def write_token(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def test_missing_token_is_created_0600_outside_production(tmp_path: Path) -> None:
    path = tmp_path / "creds" / "admin_token"
    token = load_admin_token(path, create_if_missing=True)
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_text().strip()) >= 32
    assert token.matches(path.read_text().strip())
    assert "redacted" in repr(token) and path.read_text().strip() not in repr(token)


@pytest.mark.parametrize(
    ("text", "mode", "reason"),
    [
        (None, 0o600, "missing"),
        ("a" * 31, 0o600, "shorter than 32"),
        ("a" * 4097, 0o600, "over 4096 bytes"),
        ("a" * 40, 0o640, "0600"),
        ("a" * 40, 0o604, "0600"),
        (b"\xff" * 40, 0o600, "UTF-8"),
    ],
)
def test_bad_token_files_are_refused(
    tmp_path: Path, text: str | bytes | None, mode: int, reason: str
) -> None:
    path = tmp_path / "admin_token"
    if isinstance(text, bytes):
        path.write_bytes(text)
        path.chmod(mode)
    elif text is not None:
        write_token(path, text, mode)
    with pytest.raises(ConfigError, match=reason):
        load_admin_token(path, create_if_missing=False)


def test_token_is_trimmed_and_compared_exactly(tmp_path: Path) -> None:
    path = tmp_path / "admin_token"
    write_token(path, "\n  " + "t" * 40 + "  \n")
    token = load_admin_token(path, create_if_missing=False)
    assert token.matches("t" * 40)
    assert not token.matches("t" * 39)
    assert not token.matches("t" * 40 + "x")
    assert isinstance(token, AdminToken)


def production_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "COORDINATOR__DB__DATA_FOLDER": str(tmp_path / "data"),
        "COORDINATOR__COORDINATOR__PRIVATE_KEY_FILE": str(tmp_path / "creds" / "key.pem"),
        "COORDINATOR__BITCOIN__STORAGE_FILE": str(tmp_path / "data" / "bitcoin.db"),
        "COORDINATOR__ADMIN__TOKEN_FILE": str(tmp_path / "creds" / "admin_token"),
        "COORDINATOR__API__HOST": "127.0.0.1",
        "COORDINATOR__API__PORT": str(free_port()),
        "COORDINATOR__ADMIN__PORT": str(free_port()),
        "COORDINATOR__LIGHTNING__MACAROON_FILE_PATH": str(tmp_path / "lnd" / "admin.macaroon"),
        "COORDINATOR__LIGHTNING__TLS_CERT_PATH": str(tmp_path / "lnd" / "tls.cert"),
    }


def test_production_serve_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "-c", "config/production.example.toml", "serve"],
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "admin token" in result.stderr
    # Nothing was touched: no database, no coordinator key, no wallet file.
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "creds" / "key.pem").exists()


@pytest.mark.parametrize(("token", "mode"), [(None, 0o600), ("short", 0o600), ("b" * 40, 0o644)])
async def test_production_runtime_checks_the_token_first(
    tmp_path: Path, token: str | None, mode: int
) -> None:
    path = tmp_path / "creds" / "admin_token"
    if token is not None:
        write_token(path, token, mode)
    settings = load_settings(Path("config/production.example.toml"), env=production_env(tmp_path))
    with pytest.raises(ConfigError, match="admin token"):
        await ListenerGroup(settings).start()
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "creds" / "key.pem").exists()


async def test_a_busy_port_is_a_clean_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", settings.admin.port))
        busy.listen()
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{settings.admin.port}"):
            await ListenerGroup(settings).start()
    assert not (tmp_path / "data").exists()


async def test_listeners_share_one_runtime_and_stop_together(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    group = ListenerGroup(settings)
    await group.start()
    try:
        runtime = group.runtime
        assert runtime is not None
        assert set(group.apps) == {"public", "admin"}
        assert all(app.state.runtime is runtime for app in group.apps.values())
    finally:
        await group.stop()
    assert group.runtime is None
    assert not runtime.users_db.writer_alive
    for url in group.urls.values():
        host, port = url.removeprefix("http://").split(":")
        with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port))):
            pass
