"""A devnet oracle for tests: started on a free port, driven over its HTTP APIs.

Use :func:`running_oracle` (or the ``devnet_oracle`` fixture of ``tests/oracle``)::

    with running_oracle(tmp_path / "oracle", free_port(), seed="11" * 32) as oracle:
        oracle.put_weather(forecasts=[...], observations=[...])
        oracle.attest(event_id)            # sign now with the current weather
        oracle.update()                    # the normal ETL run

Events and entries go through the oracle API itself, e.g. with
``coordinator.adapters.oracle.NoaaOracleClient(oracle.url, coordinator_secret)``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from devnet.launcher import ServiceProcess, service_spec


class OracleHandle:
    """The control API of a running devnet oracle."""

    def __init__(self, url: str, token: str, process: ServiceProcess | None = None) -> None:
        self.url = url
        self.token = token
        self.process = process
        self.http = httpx.Client(base_url=url, timeout=30.0)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def put_weather(
        self,
        forecasts: list[dict[str, Any]] | None = None,
        observations: list[dict[str, Any]] | None = None,
    ) -> httpx.Response:
        body = {"forecasts": forecasts or [], "observations": observations or []}
        return self.http.post("/devnet/weather", json=body, headers=self.auth)

    def attest(self, event_id: object) -> httpx.Response:
        return self.http.post(f"/devnet/events/{event_id}/attest", headers=self.auth)

    def update(self) -> httpx.Response:
        return self.http.post("/oracle/update", headers=self.auth)

    def close(self) -> None:
        self.http.close()


@contextmanager
def running_oracle(
    data_dir: Path, port: int, seed: str | None = None, extra: list[str] | None = None
) -> Iterator[OracleHandle]:
    """Start ``python -m devnet.oracle`` and stop it afterwards."""
    token = secrets.token_hex(16)
    args = ["--log-level", "warning", *(extra or [])]
    if seed is not None:
        args += ["--seed", seed]
    process = ServiceProcess(service_spec("oracle"), port, data_dir, token, args).start()
    handle = OracleHandle(process.url, token, process)
    try:
        yield handle
    finally:
        handle.close()
        process.stop()
