"""Competition lifecycle on the devnet: kickoff time by contract size, and API latency under load.

Starts a whole devnet stack (``tests/support/stack.py``: chain, Lightning, oracle, signing
gateway, ``coordinator serve``) in a temporary folder and measures, over HTTP only:

* **kickoff**: for each (entries, places), players enter through the player client and pay
  from their own devnet LND nodes; the figure is the time from the last paid ticket (its
  entry accepted: the roster is complete) to the funding broadcast
  (``funding_broadcasted_at``), and its parts (oracle event and entries, contract and PSBT,
  keygen, signing, funding). Sizes beyond the real gateway's limits run with raised devnet
  limits, printed next to the figure.
* **API**: with ``--competitions`` competitions stored, an open-loop load of ``--rate``
  requests per second from loopback for ``--secs`` seconds (then it stops) on the competitions
  list and on the leaderboard of the last competition kicked off (``/api/v1/…``); p50/p99
  latency measured from each request's scheduled start (so a slow server cannot hide
  queueing), and the share of errors.

Usage: ``.venv/bin/python benchmarks/lifecycle_bench.py [--sizes 10x3,20x2,25x3]
[--competitions 100] [--rate 200] [--secs 10] [--skip-kickoff] [--skip-api]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.scenario import RANKED_PICKS, Scenario  # noqa: E402
from tests.support.stack import DevnetStack, StackOptions, running_stack  # noqa: E402

#: Devnet gateway and coordinator limits for sizes beyond the real gateway's (stated in output).
RAISED = {"max_subsets": 3000, "max_batch_items": 20_000, "max_signing_sessions": 64}
MILESTONES = ("event_created_at", "entries_submitted_at", "contracted_at",
              "keymeld_keygen_completed_at", "signed_at", "funding_broadcasted_at")  # fmt: skip


def _at(history: list[dict[str, str]], name: str) -> dt.datetime | None:
    for item in history:
        if item["milestone"] == name:
            return dt.datetime.fromisoformat(item["at"])
    return None


async def kickoff(stack: DevnetStack, entries: int, places: int) -> dict[str, Any]:
    s = Scenario(stack)
    try:
        run = await s.create(entries, places, entry_fee=2_000, fee_percentage=0)
        choices = [RANKED_PICKS[i % len(RANKED_PICKS)] for i in range(entries)]
        for i, choice in enumerate(choices):  # one after another, as players arrive
            await s.enter(run, f"b{i}", choice, balance_sats=50_000)
        last_entry = dt.datetime.now(dt.UTC)
        await s.reach(run, "funding_broadcasted", within=900)
        details = await s.details(run)
        history = details["history"]
        funded = _at(history, "funding_broadcasted_at")
        assert funded is not None
        parts: dict[str, float] = {}
        previous = last_entry
        for name in MILESTONES:
            at = _at(history, name)
            if at is not None:
                parts[name.removesuffix("_at")] = max(0.0, (at - previous).total_seconds())
                previous = max(previous, at)
        return {"secs": (funded - last_entry).total_seconds(), "parts": parts, "id": run.id}
    finally:
        await s.aclose()


#: Seconds after the last scheduled request that answers are still waited for; requests not
#: answered by then are abandoned and counted (their latency is at least the time waited).
DRAIN_SECS = 15.0


async def open_loop(url: str, rate: float, secs: float) -> dict[str, float]:
    """Requests at ``rate``/s for ``secs``; latency from each request's scheduled time. Stops by
    itself ``DRAIN_SECS`` after the last request was due, answered or not."""
    latencies: list[float] = []
    errors = 0
    total = int(rate * secs)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(timeout=30.0, limits=limits, trust_env=False) as http:
        start = time.perf_counter()

        async def one(i: int) -> None:
            nonlocal errors
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                response = await http.get(url)
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - scheduled)

        tasks = [asyncio.create_task(one(i)) for i in range(total)]
        _, pending = await asyncio.wait(tasks, timeout=secs + DRAIN_SECS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        waited = time.perf_counter() - start
    unanswered = total - len(latencies)
    latencies += [waited - i / rate for i in range(total - unanswered, total)]  # lower bounds
    latencies.sort()
    return {
        "requests": total,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "errors": errors,
        "unanswered": unanswered,
    }


async def api_load(
    stack: DevnetStack, competitions: int, rate: float, secs: float, board: str | None,
    existing: int,
) -> None:  # fmt: skip
    """Load the list and one leaderboard (``board``: a competition with entries, else the
    first one created) with ``competitions`` competitions stored (``existing`` of them are)."""
    s = Scenario(stack)
    try:
        ids = []
        for _ in range(max(1, competitions - existing)):
            ids.append((await s.create(5, 1)).id)
        board = board or ids[0]
        base = stack.coordinator.url
        routes = {
            "competitions list": f"{base}/api/v1/competitions",
            "leaderboard": f"{base}/api/v1/competitions/{board}/leaderboard",
        }
        sizes = {}
        async with httpx.AsyncClient(trust_env=False) as http:
            for name, url in list(routes.items()):
                answer = await http.get(url)
                sizes[name] = len(answer.content)
                if answer.status_code != 200:
                    print(f"  {name}: {url} answers {answer.status_code}; not measured")
                    del routes[name]
        for name, url in routes.items():
            figures = await open_loop(url, rate, secs)
            print(
                f"  {name:18s} ({sizes[name] / 1000:.0f} kB) "
                f"{figures['requests']:5.0f} requests at {rate:.0f}/s: "
                f"p50 {figures['p50_ms']:7.1f} ms  p99 {figures['p99_ms']:7.1f} ms  "
                f"errors {figures['errors']:.0f}  unanswered after {DRAIN_SECS:.0f} s "
                f"{figures['unanswered']:.0f}"
            )
    finally:
        await s.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10x3,20x2,25x3")
    parser.add_argument("--competitions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--secs", type=float, default=10.0)
    parser.add_argument("--skip-kickoff", action="store_true")
    parser.add_argument("--skip-api", action="store_true")
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in item.split("x")) for item in args.sizes.split(",")]
    signer_args = [f"--{key.replace('_', '-')}={value}" for key, value in RAISED.items()]
    coordinator = {f"COORDINATOR__KEYMELD__{k.upper()}": str(v) for k, v in RAISED.items()}
    coordinator |= {f"COORDINATOR__DEVNET__SIGNER_{k.upper()}": str(v) for k, v in RAISED.items()}
    options = StackOptions(signer_args=signer_args, coordinator_settings=coordinator,
                           log_level="warning")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp), options) as stack:
        s = Scenario(stack)
        await s.fund_coordinator(20_000_000)
        await s.aclose()
        board, existing = None, 0
        if not args.skip_kickoff:
            print(f"kickoff: last paid ticket -> funding broadcast (devnet limits {RAISED})")
            for entries, places in sizes:
                existing += 1
                try:
                    figures = await kickoff(stack, entries, places)
                except AssertionError as exc:  # the competition failed: say why, go on
                    print(f"  ({entries},{places}): not funded: {str(exc).splitlines()[0]}")
                    continue
                board = figures["id"]
                parts = "  ".join(f"{k} {v:.2f}s" for k, v in figures["parts"].items())
                print(f"  ({entries},{places}): {figures['secs']:7.2f} s   [{parts}]")
        if not args.skip_api:
            print(f"API under {args.rate:.0f} req/s with {args.competitions} competitions:")
            await api_load(stack, args.competitions, args.rate, args.secs, board, existing)


if __name__ == "__main__":
    asyncio.run(main())
