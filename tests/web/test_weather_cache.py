"""The pages' weather cache against a devnet oracle over HTTP: rows are kept for a while so a
busy page does not ask the oracle again and again, but "no rows yet" is asked again soon, so
points appear on a leaderboard shortly after the observations are recorded."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from coordinator.adapters.oracle.client import NoaaOracleClient
from coordinator.app.web.data import WeatherSource
from tests.conftest import free_port
from tests.support.oracle import running_oracle


def _in_a_thread(coroutine: Any) -> Any:
    # Playwright's sync API may own this thread's event loop (tests/web/conftest.py).
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


def test_empty_answers_are_asked_again_soon_and_rows_are_kept(tmp_path: Path) -> None:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
    end = start + dt.timedelta(hours=1)
    observation = {"station_id": "KORD", "start_time": start.isoformat(),
                   "end_time": end.isoformat(), "temp_high": 75.0, "temp_low": 45.0,
                   "wind_speed": 10}  # fmt: skip
    with running_oracle(tmp_path, free_port(), seed="12" * 32) as oracle:

        async def scenario() -> None:
            async with NoaaOracleClient(oracle.url, bytes.fromhex("34" * 32)) as client:
                await check(WeatherSource(client, empty_ttl_secs=0.5))

        async def check(source: WeatherSource) -> None:

            async def observed() -> list[float | None]:
                return [o.temp_high for o in (await source.rows(("KORD",), start, end))[1]]

            def put(temp_high: float) -> None:
                oracle.put_weather(observations=[{**observation, "temp_high": temp_high}])

            assert await observed() == []
            await asyncio.to_thread(put, 75.0)
            assert await observed() == []  # the empty answer is still kept
            await asyncio.sleep(0.6)
            assert await observed() == [75.0]  # asked again
            await asyncio.to_thread(put, 80.0)
            await asyncio.sleep(0.6)
            assert await observed() == [75.0]  # rows are kept for ttl_secs (a minute)
            source.ttl_secs = 0.5
            assert 80.0 in await observed()  # the oracle really has the new row

        _in_a_thread(scenario())
