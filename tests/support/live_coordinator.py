"""A coordinator (every listener, one runtime) served from a background thread, for
synchronous test drivers such as schemathesis: ``with live_coordinator(settings) as urls``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from coordinator.app.listeners import ListenerGroup
from coordinator.config import Settings


@contextmanager
def live_coordinator(settings: Settings, timeout: float = 60.0) -> Iterator[dict[str, str]]:
    """Serve until the block ends; yields the listeners' base URLs by name."""
    ready = threading.Event()
    urls: dict[str, str] = {}
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        group = ListenerGroup(settings)
        try:
            await group.start()
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        urls.update(group.urls)
        ready.set()
        try:
            await stop.wait()
        finally:
            await group.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        if not ready.wait(timeout):
            raise TimeoutError("the coordinator did not start in time")
        if failure:
            raise failure[0]
        yield urls
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        loop.close()
