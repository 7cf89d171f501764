"""Fixtures: a devnet Lightning server (real process, real HTTP) and LND clients of its nodes."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

from coordinator.adapters.lightning import LndRestClient, ReconnectPolicy
from devnet.launcher import ServiceProcess, service_spec
from devnet.lightning.control import DevnetNode, LightningDevnetControl
from tests.conftest import free_port

TOKEN = "lightning-test-token"
FAST_RECONNECT = ReconnectPolicy(
    initial_delay_secs=0.1, max_delay_secs=0.5, settle_secs=0.2, idle_timeout_secs=30
)

T = TypeVar("T")


def start_devnet(data_dir: Path, extra_args: list[str] | None = None) -> ServiceProcess:
    """A devnet Lightning server on a free port (stop it when done)."""
    service = ServiceProcess(service_spec("lightning"), free_port(), data_dir, TOKEN, extra_args)
    return service.start()


@pytest.fixture(scope="module")
def lightning_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One server per test module; tests isolate themselves by creating their own nodes."""
    service = start_devnet(tmp_path_factory.mktemp("lightning"))
    yield service
    service.stop()


def client_for(node: DevnetNode, **options: object) -> LndRestClient:
    """An LND client of a devnet node, with test-friendly timings."""
    settings: dict[str, object] = {
        "network": "regtest",
        "macaroon": node.macaroon,
        "max_retries": 2,
        "min_invoice_validity_secs": 0.0,
        "reconnect": FAST_RECONNECT,
        **options,
    }
    return LndRestClient(node.base_url, **settings)  # type: ignore[arg-type]


@dataclass
class Nodes:
    """Creates funded devnet nodes with unique aliases and their clients; closes them after."""

    control: LightningDevnetControl
    clients: list[LndRestClient] = field(default_factory=list)

    async def new(
        self, role: str, balance_sats: int = 1_000_000, **options: object
    ) -> tuple[DevnetNode, LndRestClient]:
        node = await self.control.create_node(f"{role}-{uuid.uuid4().hex[:10]}", balance_sats)
        client = client_for(node, **options)
        self.clients.append(client)
        return node, client

    async def listening(self, node: DevnetNode, streams: int = 1) -> None:
        """Wait until ``node`` has ``streams`` streams open (subscriptions are connected)."""
        await listening(self.control, node.alias, streams)

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


async def listening(control: LightningDevnetControl, alias: str, streams: int = 1) -> None:
    """Wait until node ``alias`` has at least ``streams`` streams open."""

    async def connected() -> bool:
        return (await control.node(alias)).open_streams >= streams

    await eventually(connected)


@pytest.fixture
async def control(lightning_devnet: ServiceProcess) -> AsyncIterator[LightningDevnetControl]:
    async with LightningDevnetControl(lightning_devnet.url, TOKEN) as client:
        yield client


@pytest.fixture
async def nodes(control: LightningDevnetControl) -> AsyncIterator[Nodes]:
    made = Nodes(control)
    yield made
    await made.close()


class Collector(Generic[T]):
    """Consumes an update stream in the background so tests can wait for updates."""

    def __init__(self, updates: AsyncIterator[T]) -> None:
        self.updates = updates
        self.seen: list[T] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for update in self.updates:
            async with self._changed:
                self.seen.append(update)
                self._changed.notify_all()

    async def wait_for(self, matches: Callable[[T], bool], within: float = 10.0) -> T:
        """The first update (already seen or coming) for which ``matches`` holds."""

        async def first() -> T:
            async with self._changed:
                while True:
                    for update in self.seen:
                        if matches(update):
                            return update
                    if self._task.done():
                        self._task.result()
                        raise AssertionError("update stream ended")
                    await self._changed.wait()

        return await asyncio.wait_for(first(), within)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        aclose = getattr(self.updates, "aclose", None)
        if aclose is not None:
            await aclose()


Collect = Callable[[AsyncIterator[Any]], Collector[Any]]


@pytest.fixture
async def collect() -> AsyncIterator[Collect]:
    """Start collecting a stream; every collector is stopped after the test."""
    collectors: list[Collector[Any]] = []

    def start(updates: AsyncIterator[Any]) -> Collector[Any]:
        collector = Collector(updates)
        collectors.append(collector)
        return collector

    yield start
    for collector in collectors:
        await collector.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Poll ``check`` until it is true."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
