"""A coordinator server for tests: ``coordinator serve`` in its own process, over HTTP.

    with running_coordinator(tmp_path, esplora_url=chain.url) as coordinator:
        httpx.get(coordinator.url + "/api/v1/health_check")

Settings are the test profile (``config/e2e.toml``) with every file under the given folder and
the API on a free loopback port; ``env`` adds ``COORDINATOR__…`` overrides.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devnet.launcher import stop_process, wait_http_ready
from tests.conftest import REPO_ROOT, free_port

HEALTH_PATH = "/api/v1/health_check"


@dataclass(frozen=True)
class CoordinatorProcess:
    url: str
    port: int
    data_folder: Path
    process: subprocess.Popen[bytes]


def coordinator_env(folder: Path, port: int, esplora_url: str) -> dict[str, str]:
    """``COORDINATOR__…`` overrides putting every file under ``folder``."""
    return {
        "COORDINATOR__API__PORT": str(port),
        "COORDINATOR__DB__DATA_FOLDER": str(folder / "data"),
        "COORDINATOR__COORDINATOR__PRIVATE_KEY_FILE": str(folder / "creds" / "key.pem"),
        "COORDINATOR__BITCOIN__STORAGE_FILE": str(folder / "data" / "bitcoin.db"),
        "COORDINATOR__BITCOIN__ESPLORA_URL": esplora_url,
        "COORDINATOR__LOG_LEVEL": "warning",
    }


@contextmanager
def running_coordinator(
    folder: Path, esplora_url: str, env: Mapping[str, str] | None = None
) -> Iterator[CoordinatorProcess]:
    """Start ``coordinator serve`` and stop it (SIGTERM) afterwards."""
    port = free_port()
    environment = {**os.environ, **coordinator_env(folder, port, esplora_url), **(env or {})}
    command = [
        sys.executable, "-m", "coordinator", "-c", str(REPO_ROOT / "config" / "e2e.toml"), "serve",
    ]  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(command, env=environment, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ready(url + HEALTH_PATH, process, timeout=60)
        yield CoordinatorProcess(url, port, folder / "data", process)
    finally:
        stop_process(process)
