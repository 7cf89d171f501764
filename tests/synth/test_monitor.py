"""The monitor's server: runs start one at a time, never from another site's page, and its
metrics and status page follow the runs recorded in its SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from coordinator.synth.monitor import create_monitor_app
from coordinator.synth.scenario import SCENARIO, RunResult
from coordinator.synth.store import SynthStore


async def test_runs_start_one_at_a_time_from_this_host_only(tmp_path: Path) -> None:
    store = SynthStore(tmp_path / "synth.db")
    release = asyncio.Event()

    async def failing_run() -> RunResult:
        """A run that records one step, waits, then fails: what the server must show."""
        run_id = store.start_run(SCENARIO)
        store.add_step(run_id, "fund_coordinator", 0.0, 0.25, True)
        await release.wait()
        store.add_step(run_id, "create_competition", 0.0, 0.5, False, "HTTP 500")
        store.finish_run(run_id, False, None, "HTTP 500")
        return RunResult(run_id, False, None, "HTTP 500", [])

    app = create_monitor_app(store, failing_run)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://synth:9980") as http:
            foreign = await http.post("/api/run", headers={"Origin": "https://evil.example"})
            assert foreign.status_code == 403
            assert store.runs() == []

            started = await http.post("/api/run", headers={"Origin": "http://synth:9980"})
            assert started.status_code == 202
            await asyncio.sleep(0.05)
            assert (await http.post("/api/run")).status_code == 409
            assert (await http.get("/api/status")).json()["running"] is True

            release.set()
            for _ in range(100):
                if not (await http.get("/api/status")).json()["running"]:
                    break
                await asyncio.sleep(0.01)
            status = (await http.get("/api/status")).json()
            assert status["running"] is False
            assert status["last_result"]["status"] == "failed"
            metrics = (await http.get("/metrics")).text
            page = (await http.get("/")).text
    finally:
        store.close()
    assert f'synth_scenario_runs_total{{scenario="{SCENARIO}",status="failed"}} 1.0' in metrics
    assert "synth_competition_lifecycle_healthy 0.0" in metrics
    assert 'synth_step_duration_seconds{step="create_competition"} 0.5' in metrics
    assert "synth_last_successful_run_timestamp 0.0" in metrics
    assert "HTTP 500" in page and "fund_coordinator" in page


async def test_scheduled_runs_and_a_run_interrupted_by_a_stop(tmp_path: Path) -> None:
    """With ``every_secs`` the server runs the scenario by itself, again and again; a run the
    previous server left running is recorded as interrupted when the next one starts."""
    store = SynthStore(tmp_path / "synth.db")
    left_running = store.start_run(SCENARIO)

    async def passing_run() -> RunResult:
        run_id = store.start_run(SCENARIO)
        store.add_step(run_id, "fund_coordinator", 0.0, 0.1, True)
        store.finish_run(run_id, True, "c", None)
        return RunResult(run_id, True, "c", None, [])

    app = create_monitor_app(store, passing_run, every_secs=0.05)
    try:
        async with app.router.lifespan_context(app):
            for _ in range(200):
                if sum(n for _, status, n in store.counts() if status == "passed") >= 2:
                    break
                await asyncio.sleep(0.01)
        counts = {status: n for _, status, n in store.counts()}
        [interrupted] = [r for r in store.runs(100) if r["id"] == left_running]
    finally:
        store.close()
    assert counts["passed"] >= 2 and counts["failed"] == 1
    assert interrupted["status"] == "failed" and "interrupted" in interrupted["error"]
