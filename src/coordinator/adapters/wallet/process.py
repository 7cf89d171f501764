"""Supervision of the wallet worker process: requests over JSON lines, restart if it dies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from typing import Any, Final

from coordinator_core.errors import (
    ConfigError,
    CoordinatorError,
    TransientError,
    ValidationError,
)

log = logging.getLogger(__name__)

WORKER_MODULE: Final = "coordinator.adapters.wallet.worker"
MAX_LINE_BYTES: Final = 32 * 1024 * 1024
STOP_GRACE_SECS: Final = 5.0


class WorkerCrashedError(TransientError):
    """The worker process died (a Rust panic aborts it) while serving a request."""


class WalletWorkerError(CoordinatorError):
    """The worker reported a failure of a kind the adapter does not map itself."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_ERRORS: Final[dict[str, type[CoordinatorError]]] = {
    "transient": TransientError,
    "validation": ValidationError,
    "config": ConfigError,
    "locked": ConfigError,
}


class WorkerProcess:
    """One worker child at a time; ``open_params`` re-open the wallet in every new child."""

    def __init__(self, open_params: dict[str, Any], env: dict[str, str] | None = None) -> None:
        self._open_params = open_params
        self._env = env
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._next_id = 0
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """Process id of the running worker (``None`` when none is running)."""
        return None if self._process is None else self._process.pid

    async def call(self, method: str, time_limit: float, **params: Any) -> Any:
        """Run ``method`` in the worker; a dead worker is replaced before the next call."""
        async with self._lock:
            process = await self._ensure_started()
            return await self._request(process, method, params, time_limit)

    async def _ensure_started(self) -> asyncio.subprocess.Process:
        if self._process is not None and self._process.returncode is None:
            return self._process
        if self._process is not None:
            self.restarts += 1
            log.warning(
                "wallet worker exited with code %s; starting a new one", self._process.returncode
            )
        env = dict(os.environ if self._env is None else self._env)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            WORKER_MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            limit=MAX_LINE_BYTES,
        )
        self._process = process
        try:
            await self._request(process, "open", self._open_params, time_limit=60.0)
        except BaseException:
            await self._kill(process)
            raise
        return process

    async def _request(
        self,
        process: asyncio.subprocess.Process,
        method: str,
        params: dict[str, Any],
        time_limit: float,
    ) -> Any:
        assert process.stdin is not None and process.stdout is not None
        self._next_id += 1
        request_id = self._next_id
        line = json.dumps({"id": request_id, "method": method, "params": params}) + "\n"
        try:
            process.stdin.write(line.encode())
            await process.stdin.drain()
            answer = await asyncio.wait_for(process.stdout.readline(), time_limit)
        except (BrokenPipeError, ConnectionResetError) as exc:
            await self._kill(process)
            raise WorkerCrashedError(f"wallet worker died before {method}") from exc
        except TimeoutError as exc:
            await self._kill(process)
            raise TransientError(f"wallet {method} took longer than {time_limit:.0f}s") from exc
        except (asyncio.LimitOverrunError, ValueError) as exc:
            await self._kill(process)
            raise TransientError(f"wallet {method}: answer too large") from exc
        if not answer:
            code = await process.wait()
            raise WorkerCrashedError(f"wallet worker died during {method} (exit code {code})")
        reply = json.loads(answer)
        if reply.get("id") != request_id:
            await self._kill(process)
            raise TransientError(f"wallet {method}: out-of-order answer from the worker")
        if reply["ok"]:
            return reply["result"]
        kind, message = reply.get("kind", "internal"), reply.get("error", "unknown error")
        error_type = _ERRORS.get(kind)
        if error_type is not None:
            raise error_type(f"wallet {method}: {message}")
        raise WalletWorkerError(kind, f"wallet {method}: {message}")

    async def _kill(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.wait()

    async def close(self) -> None:
        """Close the worker's stdin (it exits after its current request), then wait."""
        async with self._lock:
            process, self._process = self._process, None
            if process is None or process.returncode is not None:
                return
            assert process.stdin is not None
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE_SECS)
            except TimeoutError:
                await self._kill(process)
