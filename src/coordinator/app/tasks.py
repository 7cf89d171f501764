"""Supervised background tasks: started by name, watched by the health check, stopped at exit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

TaskFactory = Callable[[], Coroutine[Any, Any, None]]


class BackgroundTasks:
    """A named set of long-running asyncio tasks. A task that returns or raises counts as dead."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, factory: TaskFactory) -> None:
        """Start ``factory()`` as task ``name``; its failure is logged and shows in :meth:`dead`."""
        if name in self._tasks:
            raise ValueError(f"background task {name!r} already started")
        task = asyncio.create_task(factory(), name=name)
        task.add_done_callback(self._on_done)
        self._tasks[name] = task

    def names(self) -> list[str]:
        """Names of every started task."""
        return list(self._tasks)

    def dead(self) -> list[str]:
        """Names of tasks that have finished, for whatever reason."""
        return [name for name, task in self._tasks.items() if task.done()]

    async def stop(self, grace_secs: float) -> None:
        """Cancel every task and wait up to ``grace_secs`` seconds for them to finish."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_secs)
            for task in pending:
                log.warning(
                    "background task %s did not stop within %.1fs", task.get_name(), grace_secs
                )

    @staticmethod
    def _on_done(task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task %s died", task.get_name(), exc_info=exc)
        else:
            log.error("background task %s returned unexpectedly", task.get_name())


async def run_periodically(
    name: str, interval_secs: float, step: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """Run ``step`` every ``interval_secs``; a failing step is logged, not fatal."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: step failed", name)
        await asyncio.sleep(interval_secs)
