"""Start and stop devnet services as child processes (used by ``coordinator dev`` and the tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from devnet.services import SERVICES, ServiceSpec

STOP_GRACE_SECS = 15.0


class ServiceNotReadyError(RuntimeError):
    """A service exited or did not answer its health check in time."""


def wait_http_ready(
    url: str,
    process: subprocess.Popen[bytes],
    timeout: float,
    stop: threading.Event | None = None,
) -> None:
    """Poll ``url`` until it answers 200; raise if ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if stop is not None and stop.is_set():
                raise ServiceNotReadyError("stop requested")
            if process.poll() is not None:
                raise ServiceNotReadyError(f"exited with code {process.returncode}")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise ServiceNotReadyError(f"no answer from {url} after {timeout:.0f}s")


def stop_process(process: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECS) -> int:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def service_argv(
    spec: ServiceSpec, host: str, port: int, data_dir: Path, token: str, extra: list[str]
) -> list[str]:
    """Command line that runs ``spec`` with the common devnet service options."""
    return [
        sys.executable, "-m", spec.module,
        "--host", host,
        "--port", str(port),
        "--data-dir", str(data_dir),
        "--token", token,
        *extra,
    ]  # fmt: skip


def service_spec(name: str) -> ServiceSpec:
    """The registered service called ``name``."""
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown devnet service {name!r}")


class ServiceProcess:
    """One devnet service running as a child process on 127.0.0.1."""

    def __init__(
        self,
        spec: ServiceSpec,
        port: int,
        data_dir: Path,
        token: str,
        extra_args: list[str] | None = None,
    ) -> None:
        self.spec = spec
        self.port = port
        self.data_dir = data_dir
        self.token = token
        self.extra_args = extra_args or []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return service_argv(
            self.spec, "127.0.0.1", self.port, self.data_dir, self.token, self.extra_args
        )

    def start(self, timeout: float = 30.0) -> ServiceProcess:
        """Start the process and wait until its health check answers."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(self.argv(), env=env, start_new_session=True)  # noqa: S603
        try:
            wait_http_ready(self.url + self.spec.health_path, self.process, timeout)
        except ServiceNotReadyError:
            self.stop()
            raise
        return self

    def stop(self) -> int | None:
        """Stop the process (SIGTERM, then SIGKILL); returns its exit code."""
        if self.process is None:
            return None
        code = stop_process(self.process)
        self.process = None
        return code

    def restart(self, timeout: float = 30.0) -> ServiceProcess:
        """Stop and start again on the same port and data directory."""
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> ServiceProcess:
        return self if self.process is not None else self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
