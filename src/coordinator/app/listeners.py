"""Every HTTP listener of ``coordinator serve``, run in one process over one runtime.

:data:`LISTENERS` is the table of listeners: a name, where it binds (``None`` = disabled) and
how its app is built from the settings and the shared runtime. Adding a listener is adding a
row. :class:`ListenerGroup` starts the runtime once, binds every socket before serving (a busy
port is a clean error), serves them all, and on a stop request (or when any one ends) drains
them together, then stops the runtime.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from coordinator import __version__
from coordinator.app.metrics_listener import create_metrics_app
from coordinator.app.runtime import Runtime
from coordinator.app.server import create_admin_app, create_app
from coordinator.config import Settings
from coordinator_core.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listener:
    """One HTTP listener."""

    name: str
    address: Callable[[Settings], tuple[str, int] | None]
    build: Callable[[Settings, Runtime], FastAPI]


LISTENERS: list[Listener] = [
    Listener("public", lambda s: (s.api.host, s.api.port), create_app),
    Listener("admin", lambda s: (s.admin.host, s.admin.port), create_admin_app),
    Listener(
        "metrics",
        lambda s: (s.metrics.host, s.metrics.port) if s.metrics.enabled else None,
        create_metrics_app,
    ),
]


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the group."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only for it.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


class ListenerGroup:
    """The runtime and every enabled listener; use ``async with`` or :func:`serve_forever`."""

    def __init__(self, settings: Settings, listeners: Sequence[Listener] = LISTENERS) -> None:
        self.settings = settings
        self.listeners = [item for item in listeners if item.address(settings) is not None]
        self.runtime: Runtime | None = None
        self.urls: dict[str, str] = {}
        self.apps: dict[str, FastAPI] = {}
        self._servers: list[_Server] = []
        self._sockets: list[socket.socket] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    async def start(self) -> None:
        """Bind every socket, start the runtime, then serve; returns once all accept."""
        try:
            for listener in self.listeners:
                address = listener.address(self.settings)
                assert address is not None
                self._sockets.append(_bind(*address))
            self.runtime = await Runtime.start(self.settings)
            for listener, sock in zip(self.listeners, self._sockets, strict=True):
                self._start_server(listener, sock)
            while not all(server.started for server in self._servers):
                if any(task.done() for task in self._tasks):
                    raise RuntimeError("a listener stopped while starting")
                await asyncio.sleep(0.01)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "coordinator %s ready (profile %s): %s",
            __version__,
            self.settings.profile,
            ", ".join(f"{name} {url}" for name, url in self.urls.items()),
        )

    def _start_server(self, listener: Listener, sock: socket.socket) -> None:
        assert self.runtime is not None
        host, port = sock.getsockname()[:2]
        self.urls[listener.name] = f"http://{host}:{port}"
        app = self.apps[listener.name] = listener.build(self.settings, self.runtime)
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level=self.settings.log_level,
            timeout_graceful_shutdown=int(self.settings.api.shutdown_timeout_secs),
            access_log=self.settings.log_level == "debug",
        )
        server = _Server(config)
        self._servers.append(server)
        self._tasks.append(asyncio.create_task(server.serve(sockets=[sock])))

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Ask every listener to stop (safe from a signal handler)."""
        self._stop.set()

    async def wait(self) -> None:
        """Until a stop is requested or any listener ends."""
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([stop, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()

    async def stop(self) -> None:
        """Drain every listener, then stop the runtime (checkpointing the databases)."""
        for server in self._servers:
            server.should_exit = True
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("listener failed: %r", result)
        self._tasks.clear()
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None
            log.info("coordinator stopped; databases checkpointed")

    async def __aenter__(self) -> ListenerGroup:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve_forever(settings: Settings) -> int:
    """``coordinator serve``: run until SIGINT/SIGTERM; 0 on a clean stop."""
    group = ListenerGroup(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, group.request_stop)
    try:
        await group.start()
        await group.wait()
        failed = not group.stop_requested
    finally:
        await group.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 1 if failed else 0
