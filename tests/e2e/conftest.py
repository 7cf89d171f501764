"""One devnet stack per test module (a module may set ``STACK_OPTIONS``), funded once; a
fresh :class:`Scenario` per test whose players are closed after it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.e2e.scenario import Scenario
from tests.support.stack import DevnetStack, StackOptions, running_stack

COORDINATOR_FUNDS = 5_000_000


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[DevnetStack]:
    options = getattr(request.module, "STACK_OPTIONS", StackOptions())
    with running_stack(tmp_path_factory.mktemp("stack"), options) as started:

        async def fund() -> None:
            scenario = Scenario(started)
            try:
                await scenario.fund_coordinator(COORDINATOR_FUNDS)
            finally:
                await scenario.aclose()

        asyncio.run(fund())
        yield started


@pytest.fixture
async def scenario(stack: DevnetStack) -> AsyncIterator[Scenario]:
    made = Scenario(stack)
    try:
        yield made
    finally:
        await made.aclose()
        await stack.close_players()
