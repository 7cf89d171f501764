"""Single-flight builds of the public read routes: one build at a time per key, shared by the
requests that arrive meanwhile, and no lock kept once nobody uses it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from coordinator.app.competitions.api import list_competitions
from coordinator.app.single_flight import KeyedLocks
from tests.lifecycle.factories import make_terms
from tests.lifecycle.world import World, create


async def test_one_holder_per_key_and_no_lock_left_behind() -> None:
    locks = KeyedLocks()
    inside: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0}

    async def use(key: str) -> None:
        async with locks.hold(key):
            inside[key] += 1
            most[key] = max(most[key], inside[key])
            await asyncio.sleep(0.005)
            inside[key] -= 1

    await asyncio.gather(*(use(k) for k in "ababab"))
    assert most == {"a": 1, "b": 1} and len(locks) == 0


async def test_a_lock_with_waiters_is_kept_and_a_failing_holder_releases_it() -> None:
    locks = KeyedLocks()
    release = asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with locks.hold("k"):
            order.append("first")
            await release.wait()
            raise RuntimeError("build failed")

    async def second() -> None:
        async with locks.hold("k"):
            order.append("second")

    one = asyncio.create_task(first())
    await asyncio.sleep(0)
    two = asyncio.create_task(second())
    await asyncio.sleep(0)
    assert len(locks) == 1 and order == ["first"]  # the waiter shares the holder's lock
    release.set()
    with pytest.raises(RuntimeError):
        await one
    await two
    assert order == ["first", "second"] and len(locks) == 0


def counting(
    obj: Any, name: str, after: Callable[[], Awaitable[object]] | None = None
) -> Callable[[], int]:
    """Wrap ``obj.name`` so that its calls are counted (and each followed by ``after()``, e.g. a
    write landing during the build); returns the count."""
    calls = 0
    original = getattr(obj, name)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)  # let the other requests arrive during the build
        result = await original(*args, **kwargs)
        if after is not None:
            await after()
        return result

    setattr(obj, name, counted)
    return lambda: calls


@pytest.mark.slow
async def test_concurrent_reads_share_one_build(world: World) -> None:
    terms = make_terms(3, 1, now=world.now(), start_in=dt.timedelta(minutes=30), values=1,
                       locations=("KORD",))  # fmt: skip
    await create(world, terms)
    svc = world.services
    pages = counting(svc.lc.store, "page")
    lists = await asyncio.gather(*(list_competitions(svc, 10, None, None) for _ in range(20)))
    assert pages() == 1
    assert {bytes(r.body) for r in lists} == {bytes(lists[0].body)}
    assert [c["id"] for c in json.loads(lists[0].body)] == [str(terms.id)]

    loads = counting(svc.lc.store, "load")
    boards = await asyncio.gather(*(svc.board.rows(terms.id) for _ in range(20)))
    assert loads() == 1 and all(b == boards[0] for b in boards)
    assert boards[0]["competition_id"] == str(terms.id)


@pytest.mark.slow
async def test_reads_during_writes_share_a_build_begun_after_they_arrived(world: World) -> None:
    terms = make_terms(3, 1, now=world.now(), start_in=dt.timedelta(minutes=30), values=1,
                       locations=("KORD",))  # fmt: skip
    await create(world, terms)
    svc = world.services
    store = svc.lc.store

    async def write() -> None:
        other = make_terms(3, 1, now=world.now(), values=1, locations=("KORD",))
        await store.create(other, [], world.now())

    pages = counting(store, "page", after=write)
    lists = await asyncio.gather(*(list_competitions(svc, 10, None, None) for _ in range(20)))
    # The 19 that waited take the first build's answer: it began after they arrived. Each one
    # building again in turn (its answer outdated by the write during the build) would be 20.
    assert pages() == 1 and all(r.body == lists[0].body for r in lists)
    listed = len(json.loads(lists[0].body))
    after = await list_competitions(svc, 10, None, None)  # arrived after the write: rebuilt
    assert pages() == 2 and len(json.loads(after.body)) == listed + 1

    loads = counting(store, "load", after=write)
    boards = await asyncio.gather(*(svc.board.rows(terms.id) for _ in range(20)))
    assert loads() == 1 and all(b == boards[0] for b in boards)
