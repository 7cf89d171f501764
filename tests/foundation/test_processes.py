"""The README's run path: `coordinator serve` and `coordinator dev` as real processes."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port


def isolated_env(tmp_path: Path, api_port: int, admin_port: int | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "COORDINATOR__API__PORT": str(api_port),
        "COORDINATOR__ADMIN__PORT": str(admin_port or free_port()),
        "COORDINATOR__ADMIN__TOKEN_FILE": str(tmp_path / "creds" / "admin_token"),
        "COORDINATOR__DB__DATA_FOLDER": str(tmp_path / "data"),
        "COORDINATOR__COORDINATOR__PRIVATE_KEY_FILE": str(tmp_path / "creds" / "key.pem"),
        "COORDINATOR__BITCOIN__STORAGE_FILE": str(tmp_path / "data" / "bitcoin.db"),
        "COORDINATOR__DEVNET__DATA_FOLDER": str(tmp_path / "devnet"),
        "COORDINATOR__METRICS__PORT": str(free_port()),
        "COORDINATOR__BACKUP__LITESTREAM_PORT": str(free_port()),
    }
    for key in ("chain", "lightning", "oracle", "signer", "s3"):
        env[f"COORDINATOR__DEVNET__{key.upper()}_PORT"] = str(free_port())
    return env


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        assert process.poll() is None, f"exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} not healthy after {timeout}s")


def test_serve_answers_health_and_checkpoints_on_sigterm(tmp_path: Path) -> None:
    """Both listeners run in one process over one runtime and stop together on SIGTERM."""
    port, admin_port = free_port(), free_port()
    # Without replication: the coordinator truncates its WAL itself at shutdown.
    process = subprocess.Popen(
        [sys.executable, "-m", "coordinator", "--config", "config/local.toml", "serve"],
        env={**isolated_env(tmp_path, port, admin_port), "COORDINATOR__BACKUP__ENABLED": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/api/v1/health_check", process, timeout=30)
        token_file = tmp_path / "creds" / "admin_token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        whoami = f"http://127.0.0.1:{admin_port}/admin/api/whoami"
        assert httpx.get(whoami).status_code == 401
        bearer = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        assert httpx.get(whoami, headers=bearer).json() == {"method": "token", "pubkey": None}
        assert httpx.get(f"http://127.0.0.1:{port}/admin/api/whoami").status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()
    for name in ("competitions.db", "users.db"):
        assert (tmp_path / "data" / name).exists()
        wal = tmp_path / "data" / f"{name}-wal"
        assert not wal.exists() or wal.stat().st_size == 0


def test_dev_starts_everything_and_stops_cleanly(tmp_path: Path) -> None:
    """`coordinator dev` prints the URLs once everything is healthy and stops all children."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "coordinator", "--config", "config/local.toml", "dev"],
        env=isolated_env(tmp_path, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or []])
    reader.start()
    output = ""
    try:
        deadline = time.monotonic() + 180  # five devnet services and the coordinator
        while "Press Ctrl-C to stop." not in output:
            assert time.monotonic() < deadline, f"not ready in time; output so far:\n{output}"
            assert process.poll() is None, f"exited early with {process.returncode}"
            with contextlib.suppress(queue.Empty):
                output += lines.get(timeout=0.5)
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health_check").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=90)
        reader.join(timeout=10)
    assert process.returncode == 0
    assert "devnet is ready" in output
    assert "coordinator API" in output
    assert f"http://127.0.0.1:{port}" in output
    assert f"public listener http://127.0.0.1:{port}" in output
    assert "admin listener http://127.0.0.1:" in output
    assert str(tmp_path / "creds" / "admin_token") in output  # the token file's path
    assert "wallet funded with" in output  # the coordinator can fund contracts at once
    assert "coordinator admin competitions create" in output
    assert "coordinator player" in output and "enter <competition id>" in output
    assert (tmp_path / "creds" / "admin_token").stat().st_mode & 0o777 == 0o600
    # Every child is gone: nothing answers on the coordinator port any more.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/health_check", timeout=1)
