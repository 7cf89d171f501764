"""Server time of the player pages with 100 competitions.

Builds a fresh competitions.db with 100 competitions (one finished with entries) through the
lifecycle's SQLite store, starts a devnet oracle with weather for the stations, and serves the
pages in-process (``httpx.ASGITransport``: server time only, no network). Prints the first load
(cold: empty weather cache) and then the p50/p95 of repeated loads of the competitions page and
of an entry form. Target: first load < 300 ms.

    .venv/bin/python benchmarks/pages_bench.py [--competitions 100] [--repeat 50]
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

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import free_port  # noqa: E402
from tests.support.oracle import running_oracle  # noqa: E402
from tests.web.conftest import _weather  # noqa: E402
from tests.web.fixtures import Seeded, pages_app  # noqa: E402

from coordinator.adapters.oracle.client import NoaaOracleClient  # noqa: E402
from coordinator.config import ApiSettings, Settings  # noqa: E402

TARGET_MS = 300.0


async def timed(client: httpx.AsyncClient, path: str) -> float:
    started = time.perf_counter()
    response = await client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {path}: HTTP {response.status_code}")
    return elapsed


async def run(competitions: int, repeat: int, folder: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with running_oracle(folder / "oracle", free_port(), seed="11" * 32) as oracle:
        for start in (now - dt.timedelta(hours=3), now + dt.timedelta(hours=1)):
            oracle.put_weather(**_weather(start, start + dt.timedelta(hours=1))).raise_for_status()
        client_oracle = NoaaOracleClient(oracle.url, bytes.fromhex("33" * 32))
        seeded = Seeded()
        settings = Settings(api=ApiSettings(origins=["http://bench"]))
        app = pages_app(settings, folder, client_oracle, "ab" * 32, seeded, now,
                        extra=competitions - 3)  # fmt: skip
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app), base_url="http://bench"
            ) as client,
        ):
            pages = {
                "competitions page": "/competitions",
                "entry form": f"/competitions/{seeded.open_id}/entry-form",
            }
            print(f"pages with {competitions} competitions (server time, in-process)")
            for name, path in pages.items():
                first = await timed(client, path)
                warm = [await timed(client, path) for _ in range(repeat)]
                p95 = statistics.quantiles(warm, n=20)[18]
                verdict = "ok" if first < TARGET_MS else "OVER TARGET"
                print(
                    f"  {name:18s} first {first:7.1f} ms ({verdict}, target < {TARGET_MS:.0f})"
                    f"  warm p50 {statistics.median(warm):6.1f} ms  p95 {p95:6.1f} ms"
                )
        await client_oracle.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--competitions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pages-bench-") as folder:
        asyncio.run(run(args.competitions, args.repeat, Path(folder)))


if __name__ == "__main__":
    main()
