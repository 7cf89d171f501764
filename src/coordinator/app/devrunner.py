"""``coordinator dev``: run the devnet services and the coordinator as supervised children.

Children start in dependency order, each only after the previous one answers its health check.
Once all are ready their URLs are printed. Ctrl-C / SIGTERM (or any child dying) stops every
child in reverse order: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from coordinator.app.auth.admin_token import load_admin_token
from coordinator.config import DevnetSettings, Settings
from coordinator_core.errors import ConfigError
from devnet.launcher import ServiceNotReadyError, service_argv, stop_process, wait_http_ready
from devnet.services import SERVICES, ServiceSpec


@dataclass(frozen=True)
class Child:
    """A process to supervise and the URL that tells when it is ready."""

    name: str
    title: str
    argv: list[str]
    url: str
    health_url: str
    usage: str = ""


def plan_children(settings: Settings, config_path: Path | None) -> list[Child]:
    """The devnet services followed by the coordinator, with their command lines."""
    devnet = settings.devnet
    if devnet is None:
        raise ConfigError("`coordinator dev` needs a [devnet] section (use config/local.toml)")
    children = [_devnet_child(devnet, spec) for spec in SERVICES]
    url = f"http://{settings.api.host}:{settings.api.port}"
    argv = [sys.executable, "-m", "coordinator"]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    admin = settings.admin
    usage = (
        f"admin listener http://{admin.host}:{admin.port} "
        f"(Authorization: Bearer <token in {admin.token_file}>)"
    )
    children.append(
        Child(
            "coordinator",
            "coordinator API",
            [*argv, "serve"],
            url,
            f"{url}/api/v1/health_check",
            usage,
        )
    )
    return children


def _devnet_child(devnet: DevnetSettings, spec: ServiceSpec) -> Child:
    port = getattr(devnet, spec.port_setting)
    url = f"http://{devnet.host}:{port}"
    extra = [
        arg
        for option, setting in spec.setting_options
        for arg in (option, str(getattr(devnet, setting)))
    ]
    argv = service_argv(
        spec, devnet.host, port, devnet.data_folder / spec.name, devnet.token, extra
    )
    return Child(spec.name, spec.title, argv, url, f"{url}{spec.health_path}", spec.usage)


class Supervisor:
    """Starts children in order, waits for readiness and stops them all on request."""

    def __init__(self, children: Sequence[Child], startup_timeout: float) -> None:
        self.children = list(children)
        self.startup_timeout = startup_timeout
        self.processes: list[tuple[Child, subprocess.Popen[bytes]]] = []
        self.stop_requested = threading.Event()

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_requested.set()

    def run(self) -> int:
        """Run until a stop is requested or a child dies. Returns the exit code."""
        previous = {s: signal.signal(s, self.request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for child in self.children:
                if not self._start(child):
                    return 0 if self.stop_requested.is_set() else 1
            self._print_ready()
            return self._watch()
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _start(self, child: Child) -> bool:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # A new session keeps a terminal's Ctrl-C from reaching the children directly, so
        # they are stopped in order by the supervisor.
        process = subprocess.Popen(child.argv, env=env, start_new_session=True)  # noqa: S603
        self.processes.append((child, process))
        try:
            wait_http_ready(child.health_url, process, self.startup_timeout, self.stop_requested)
        except ServiceNotReadyError as exc:
            if not self.stop_requested.is_set():
                print(f"error: {child.title} did not start: {exc}", file=sys.stderr)
            return False
        return True

    def _print_ready(self) -> None:
        width = max(len(child.title) for child in self.children)
        print("\nForecast Coordinator devnet is ready:", flush=True)
        for child in self.children:
            print(f"  {child.title.ljust(width)}  {child.url}", flush=True)
            if child.usage:
                print(f"  {' ' * width}  {child.usage}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)

    def _watch(self) -> int:
        while not self.stop_requested.wait(0.2):
            for child, process in self.processes:
                if process.poll() is not None:
                    print(
                        f"error: {child.title} exited with code {process.returncode}",
                        file=sys.stderr,
                    )
                    return 1
        return 0

    def _stop_all(self) -> None:
        for _, process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()


def run_dev(settings: Settings, config_path: Path | None) -> int:
    """Entry point of ``coordinator dev``."""
    if settings.profile == "production":
        raise ConfigError("`coordinator dev` cannot run with the production profile")
    children = plan_children(settings, config_path)
    load_admin_token(settings.admin.token_file, create_if_missing=True)
    assert settings.devnet is not None
    return Supervisor(children, settings.devnet.startup_timeout_secs).run()
