"""Long-lived LND update streams that survive disconnects without missing updates.

Each (re)connection opens the stream first and then re-checks every item that may have changed
while disconnected: those this subscription last saw in a non-final state plus those the caller
names (``pending``). Updates are deduplicated per item and state, so a consumer sees each
state change of an item once per subscription (still, consumers must be idempotent: a new
subscription starts from scratch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from coordinator.domain.ports.lightning import PendingHashes
from coordinator_core.errors import CoordinatorError, NotFoundError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How many items' last states a subscription remembers (older final ones are forgotten first).
MAX_REMEMBERED = 20_000


class _State(Hashable, Protocol):
    @property
    def is_final(self) -> bool: ...


@dataclass(frozen=True)
class ReconnectPolicy:
    """Timing of reconnections."""

    initial_delay_secs: float = 0.5
    max_delay_secs: float = 30.0
    #: After opening the stream, how long to wait for the server's answer before re-checking
    #: (LND's REST proxy sends headers only with the first message).
    settle_secs: float = 0.5
    #: A stream silent this long is reopened (and pending items re-checked).
    idle_timeout_secs: float = 600.0


OpenStream = Callable[[], AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]]


class ResumableStream(Generic[T]):
    """Yields parsed updates from an LND stream forever."""

    def __init__(
        self,
        *,
        name: str,
        open_stream: OpenStream,
        parse: Callable[[dict[str, Any]], T],
        key: Callable[[T], bytes],
        state: Callable[[T], _State],
        lookup: Callable[[bytes], Awaitable[T]],
        pending: PendingHashes | None,
        policy: ReconnectPolicy,
        on_message: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._name = name
        self._open_stream = open_stream
        self._parse = parse
        self._key = key
        self._state = state
        self._lookup = lookup
        self._pending = pending
        self._policy = policy
        self._on_message = on_message
        self._last: OrderedDict[bytes, _State] = OrderedDict()

    async def updates(self) -> AsyncIterator[T]:
        """The update stream; runs until the consumer stops iterating."""
        loop = asyncio.get_running_loop()
        delay = self._policy.initial_delay_secs
        while True:
            started = loop.time()
            queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=256)
            connected = asyncio.Event()
            reader = asyncio.create_task(self._read(queue, connected), name=f"{self._name}-reader")
            reason = "stream ended"
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(connected.wait(), self._policy.settle_secs)
                async for update in self._recheck():
                    yield update
                while True:
                    kind, value = await queue.get()
                    if kind == "message":
                        streamed = self._streamed(value)
                        if streamed is not None:
                            yield streamed
                        continue
                    if kind == "error":
                        reason = _describe(value)
                    break
            except CoordinatorError as exc:
                reason = exc.message
            except Exception as exc:  # a long-lived subscription must not die of one failure
                log.exception("%s subscription failed", self._name)
                reason = _describe(exc)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            if connected.is_set() or loop.time() - started > self._policy.max_delay_secs:
                delay = self._policy.initial_delay_secs
            log.warning(
                "%s stream interrupted (%s); reconnecting in %.1fs", self._name, reason, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._policy.max_delay_secs)

    async def _read(self, queue: asyncio.Queue[tuple[str, Any]], connected: asyncio.Event) -> None:
        try:
            async with self._open_stream() as messages:
                connected.set()
                async for message in messages:
                    await queue.put(("message", message))
            await queue.put(("end", None))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await queue.put(("error", exc))

    async def _recheck(self) -> AsyncIterator[T]:
        """Look up every item that may have changed while this stream was not listening."""
        hashes = [key for key, state in self._last.items() if not state.is_final]
        if self._pending is not None:
            known = set(hashes)
            hashes += [h for h in await self._pending() if h not in known]
        for payment_hash in hashes:
            try:
                update = await self._lookup(payment_hash)
            except NotFoundError:
                self._last.pop(payment_hash, None)
                continue
            if self._remember(update):
                yield update

    def _streamed(self, message: dict[str, Any]) -> T | None:
        try:
            update = self._parse(message)
        except CoordinatorError as exc:
            log.warning("%s: skipping malformed update: %s", self._name, exc.message)
            return None
        if self._on_message is not None:
            self._on_message(message)
        return update if self._remember(update) else None

    def _remember(self, update: T) -> bool:
        """Record the update's state; False when it is the state already reported."""
        key, state = self._key(update), self._state(update)
        if self._last.get(key) == state:
            return False
        self._last[key] = state
        self._last.move_to_end(key)
        if len(self._last) > MAX_REMEMBERED:
            self._forget_oldest()
        return True

    def _forget_oldest(self) -> None:
        for key, state in self._last.items():
            if state.is_final:
                del self._last[key]
                return
        self._last.popitem(last=False)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, CoordinatorError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
