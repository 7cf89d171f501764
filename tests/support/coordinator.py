"""A coordinator server for tests: ``coordinator serve`` in its own process, over HTTP.

    with running_coordinator(tmp_path, esplora_url=chain.url) as coordinator:
        httpx.get(coordinator.url + "/api/v1/health_check")
        httpx.get(coordinator.admin_url + "/admin/api/whoami",
                  headers={"Authorization": f"Bearer {coordinator.admin_token}"})

Settings are the test profile (``config/e2e.toml``) with every file under the given folder, the
public and admin listeners on free loopback ports (each its own NIP-98 origin); ``env`` adds
``COORDINATOR__…`` overrides.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devnet.launcher import ServiceNotReadyError, stop_process, wait_http_ready
from tests.conftest import REPO_ROOT, free_port

HEALTH_PATH = "/api/v1/health_check"


@dataclass(frozen=True)
class CoordinatorProcess:
    url: str
    admin_url: str
    data_folder: Path
    admin_token_file: Path
    process: subprocess.Popen[bytes]

    @property
    def admin_token(self) -> str:
        return self.admin_token_file.read_text().strip()


def coordinator_env(folder: Path, port: int, admin_port: int, esplora_url: str) -> dict[str, str]:
    """``COORDINATOR__…`` overrides putting every file under ``folder``."""
    return {
        "COORDINATOR__API__PORT": str(port),
        "COORDINATOR__API__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "COORDINATOR__ADMIN__PORT": str(admin_port),
        "COORDINATOR__ADMIN__TOKEN_FILE": str(folder / "creds" / "admin_token"),
        "COORDINATOR__DB__DATA_FOLDER": str(folder / "data"),
        "COORDINATOR__COORDINATOR__PRIVATE_KEY_FILE": str(folder / "creds" / "key.pem"),
        "COORDINATOR__BITCOIN__STORAGE_FILE": str(folder / "data" / "bitcoin.db"),
        "COORDINATOR__BITCOIN__ESPLORA_URL": esplora_url,
        "COORDINATOR__LOG_LEVEL": "warning",
    }


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise ServiceNotReadyError(f"the admin listener on port {port} did not open")


@contextmanager
def running_coordinator(
    folder: Path, esplora_url: str, env: Mapping[str, str] | None = None
) -> Iterator[CoordinatorProcess]:
    """Start ``coordinator serve`` and stop it (SIGTERM) afterwards."""
    port, admin_port = free_port(), free_port()
    overrides = coordinator_env(folder, port, admin_port, esplora_url)
    environment = {**os.environ, **overrides, **(env or {})}
    command = [
        sys.executable, "-m", "coordinator", "-c", str(REPO_ROOT / "config" / "e2e.toml"), "serve",
    ]  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(command, env=environment, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ready(url + HEALTH_PATH, process, timeout=60)
        _wait_listening(admin_port, process)
        admin_url = f"http://127.0.0.1:{admin_port}"
        token_file = Path(overrides["COORDINATOR__ADMIN__TOKEN_FILE"])
        yield CoordinatorProcess(url, admin_url, folder / "data", token_file, process)
    finally:
        stop_process(process)
